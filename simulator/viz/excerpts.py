"""The real code beside the model: a few lines of each function a chapter's
model step stands for, quoted as a citation (file, commit), next to the model's
own hook.

Only the lines that matter are quoted, never a whole function; ``…`` marks
what is left out, and a ``+`` line is one the fix added. ``beside(key)`` gives
the excerpt and the model's code side by side (HTML in a notebook, text
elsewhere).
"""
from __future__ import annotations

import ast
import html
import inspect
import io
import textwrap
import tokenize
from dataclasses import dataclass

from simulator.errors import UsageError

PROSE = 72  # docstrings and comments are wrapped at PEP 8's width for prose


@dataclass(frozen=True)
class Excerpt:
    """A short quotation of real code and where it comes from."""

    func: str
    where: str  # repository, file and commit
    lines: tuple[str, ...]
    model: str  # "module:Class.method[,Class.method]": the model steps it corresponds to
    note: str = ""

    @property
    def model_names(self) -> list[str]:
        module, _, quals = self.model.partition(":")
        return [f"{module.rsplit('.', 1)[-1]}.{q}" for q in quals.split(",")]

    def model_source(self) -> str:
        import importlib

        module, _, quals = self.model.partition(":")
        sources = []
        for qual in quals.split(","):
            obj = importlib.import_module(module)
            for part in qual.split("."):
                obj = getattr(obj, part)
            sources.append(wrap_prose(textwrap.dedent(inspect.getsource(obj)).rstrip()))
        return "\n\n".join(sources)


def wrap_prose(source: str, width: int = PROSE) -> str:
    """``source`` with its docstrings and comments reflowed at ``width``
    characters where a line of them is longer; every line of code stays as it
    is (a wrapped Python line would read as two).

    A docstring's paragraph (or list item) is refilled at its indentation; a
    block of comment lines at the same column is refilled as one, with ``#`` on
    each line; a comment after code continues below, at its own column, or,
    with no room left after the code, moves above it.
    """
    lines = source.splitlines()
    doc: set[int] = set()  # 0-based indexes of docstring lines
    comments: dict[int, int] = {}  # line index -> column of its comment
    try:
        for node in ast.walk(ast.parse(source)):
            body = getattr(node, "body", None)
            if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                    and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                doc.update(range(body[0].lineno - 1, body[0].end_lineno))
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0] - 1] = tok.start[1]
    except (SyntaxError, tokenize.TokenError):
        return source  # not one piece of Python: shown as it is
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = line[:len(line) - len(line.lstrip())]
        if i in doc and line.strip():
            j = i + 1  # a paragraph: up to a blank line, a list item or the docstring's end
            while (j in doc and lines[j].strip() and not lines[j].lstrip().startswith("- ")
                   and len(lines[j]) - len(lines[j].lstrip()) == len(indent)):
                j += 1
            out += _refill(lines[i:j], indent, width, "")
        elif i in comments and not line[:comments[i]].strip():
            j = i + 1  # a block of whole-line comments at one column
            while j in comments and lines[j].startswith(indent + "#") and \
                    not lines[j][:comments[j]].strip():
                j += 1
            out += _refill([t.strip()[1:] for t in lines[i:j]], indent, width, "# ")
        elif i in comments and len(line) > width:
            col, j = comments[i], i + 1
            code, words = line[:col].rstrip(), line[col:].lstrip("#").strip()
            parts = textwrap.wrap(words, width - col - 2, break_long_words=False,
                                  break_on_hyphens=False) if width - col - 2 >= 12 else []
            if parts and all(len(part) <= width - col - 2 for part in parts):
                out.append(f"{line[:col]}# {parts[0]}")
                out += [f"{' ' * col}# {part}" for part in parts[1:]]
            else:  # no room after the code: the comment goes on the lines above it
                out += _refill([words], indent, width, "# ") + [code]
        else:
            j = i + 1
            out.append(line)
        i = j
    return "\n".join(out)


def _refill(block: list[str], indent: str, width: int, mark: str) -> list[str]:
    """``block`` as it is if it fits in ``width``, else refilled: each line
    starts with ``indent`` and ``mark``; a list item's lines hang under its text."""
    if all(len(indent + mark + t.strip()) <= width for t in block):
        return [indent + mark + t.strip() if mark else t for t in block]
    text = " ".join(t.strip() for t in block)
    hang = "  " if text.startswith("- ") else ""
    return textwrap.wrap(text, width, initial_indent=indent + mark,
                         subsequent_indent=indent + mark + hang,
                         break_long_words=False, break_on_hyphens=False)


EXCERPTS = {e.func: e for e in (
    Excerpt("vq_endchains",
            "illumos-joyent usr/src/cmd/bhyve/virtio.c, vq_endchains() at e393062",
            ("vq->vq_save_used = new_idx = vq->vq_used->vu_idx;",
             "+ mb();",
             "…",
             "intr = new_idx != old_idx &&",
             "    !(vq->vq_avail->va_flags & VRING_AVAIL_F_NO_INTERRUPT);"),
            "simulator.models.virtio:VirtioDevice.vq_endchains",
            "the device reads back used.idx, then (after the fix's mb()) the guest's flags"),
    Excerpt("vq_relchain",
            "illumos-joyent usr/src/cmd/bhyve/virtio.c, vq_relchain() at e393062",
            ("vue->vu_idx = idx;",
             "vue->vu_tlen = iolen;",
             "+ wmb();",
             "vuh->vu_idx = uidx;"),
            "simulator.models.virtio:VirtioDevice.vq_relchain",
            "the used entry, then used.idx; the wmb() orders nothing more on x86"),
    Excerpt("virtqueue_poll",
            "Linux drivers/virtio/virtio_ring.c, virtqueue_poll() (v4.19)",
            ("virtio_mb(vq->weak_barriers);",
             "return (u16)last_used_idx != virtio16_to_cpu(_vq->vdev, vq->vring.used->idx);"),
            "simulator.models.guest:LinuxVirtioBlk.virtqueue_poll",
            "the guest's full barrier, then its re-read of used.idx"),
    Excerpt("vmx_set_intr_ready",
            "illumos-joyent usr/src/uts/i86pc/io/vmm/intel/vmx.c, vmx_set_intr_ready() "
            "before c713610",
            ("atomic_set_long(&pir_desc->pir[idx], mask);",
             "notify = atomic_cmpset_long(&pir_desc->pending, 0, 1);",
             "…",
             "return (notify);"),
            "simulator.models.posted:PostedInterrupts.vmx_set_intr_ready,"
            "PostedInterrupts.notify_needed",
            "set the vector's PIR bit; notify only if 'pending' went from 0 to 1"),
    Excerpt("vmx_flush_pir_prio",
            "illumos-joyent usr/src/uts/i86pc/io/vmm/intel/vmx.c, vmx_flush_pir_prio() "
            "added by 21e2c66 (OS-6930)",
            ("atomic_clear_long(&pir_desc->pending, ~PIR_MASK_PENDING);",),
            "simulator.models.posted:PrioPostedInterrupts.vmx_flush_pir_prio",
            "leaving vmx_run: keep ON, drop every class bit"),
    Excerpt("blockif_cancel",
            "moby/hyperkit src/lib/block_if.c, blockif_cancel() at 3cb0d54",
            ("while (be->be_status == BST_BUSY) {",
             "        … bse.bse_pending = 1; push &bse onto blockif_bse_head (cmpset) …",
             "        pthread_kill(be->be_tid, SIGCONT);",
             "        pthread_mutex_lock(&bse.bse_mtx);",
             "        while (bse.bse_pending)",
             "                pthread_cond_wait(&bse.bse_cond, &bse.bse_mtx);"),
            "simulator.models.blockif:BlockifCtxt.blockif_cancel_wait",
            "one round; bc_mtx, and the caller's sc->mtx, stay held through all of them"),
    Excerpt("blockif_sigcont_handler",
            "moby/hyperkit src/lib/block_if.c, blockif_sigcont_handler() at 3cb0d54",
            ("… pop bse off blockif_bse_head (cmpset), until it is empty …",
             "pthread_mutex_lock(&bse->bse_mtx);",
             "bse->bse_pending = 0;",
             "pthread_cond_signal(&bse->bse_cond);",
             "pthread_mutex_unlock(&bse->bse_mtx);"),
            "simulator.models.blockif:BlockifCtxt.blockif_sigcont_handler",
            "answer every canceller; nothing here touches the blkio thread"),
    Excerpt("ata_ioreq_cb",
            "moby/hyperkit src/lib/pci_ahci.c, ata_ioreq_cb() at 3cb0d54",
            ("pthread_mutex_lock(&sc->mtx);",
             "TAILQ_REMOVE(&p->iobhd, aior, io_blist);",
             "…",
             "ahci_write_fis_d2h(p, slot, cfis, tfd);",
             "…",
             "pthread_mutex_unlock(&sc->mtx);"),
            "simulator.models.ahci:AhciPort.ata_ioreq_cb",
            "blkio's completion callback takes the controller's lock"),
    # illumos #14026: vmm_drv leases and viona's ring worker (chapter 4)
    Excerpt("viona_worker",
            "illumos-gate usr/src/uts/i86pc/io/viona/viona_ring.c, viona_worker() at 6703a0e",
            ("while (ring->vr_state_flags == 0) {",
             "    if (vmm_drv_lease_expired(ring->vr_lease)) {",
             "        if (!viona_ring_lease_renew(ring)) …",
             "    }",
             "    (void) cv_wait_sig(&ring->vr_cv, &ring->vr_lock);",
             "    …"),
            "simulator.models.viona:VionaRing.viona_worker,VionaRing.keep_lease_fresh",
            "vr_lock is held all through the loop; unchanged by 6703a0e"),
    Excerpt("vmm_drv_lease_sign",
            "illumos-gate usr/src/uts/i86pc/io/vmm/vmm_sol_dev.c, vmm_drv_lease_sign() at 6703a0e",
            ("mutex_enter(&sc->vmm_lease_lock);",
             "while (sc->vmm_lease_blocker != 0) {",
             "    cv_wait(&sc->vmm_lease_cv, &sc->vmm_lease_lock);",
             "}",
             "list_insert_tail(&sc->vmm_lease_list, lease);",
             "vmm_read_lock(sc);"),
            "simulator.models.lease:Leases.vmm_drv_lease_sign",
            "viona calls it from viona_ring_lease_renew(), which asserts that vr_lock is held"),
    Excerpt("vmm_write_lock",
            "illumos-gate usr/src/uts/i86pc/io/vmm/vmm_sol_dev.c, vmm_write_lock() before 6703a0e",
            ("mutex_enter(&sc->vmm_lease_lock);",
             "… for each lease on vmm_lease_list, not yet expired: …",
             "    lease->vml_expired = B_TRUE;",
             "    sync_break = lease->vml_expire_func(arg);",
             "mutex_exit(&sc->vmm_lease_lock);",
             "rw_enter(&sc->vmm_rwlock, RW_WRITER);"),
            "simulator.models.lease:Leases.vmm_lease_block",
            "every expire callback runs with vmm_lease_lock held"),
    Excerpt("vmm_lease_block",
            "illumos-gate usr/src/uts/i86pc/io/vmm/vmm_sol_dev.c, vmm_lease_block() at 6703a0e",
            ("lease->vml_expired = B_TRUE;",
             "mutex_exit(&sc->vmm_lease_lock);",
             "sync_break = expiref(arg);",
             "mutex_enter(&sc->vmm_lease_lock);",
             "…",
             "… break the deferred leases; cv_wait for an empty list …"),
            "simulator.models.lease:BlockingLeases.vmm_lease_block",
            "the loop moved out of vmm_write_lock; the callback runs without vmm_lease_lock"),
    Excerpt("viona_ring_lease_expire_cb",
            "illumos-gate usr/src/uts/i86pc/io/viona/viona_ring.c, "
            "viona_ring_lease_expire_cb() at 6703a0e",
            ("+ mutex_enter(&ring->vr_lock);",
             "cv_broadcast(&ring->vr_cv);",
             "+ mutex_exit(&ring->vr_lock);",
             "",
             "/* The lease will be broken asynchronously. */",
             "return (B_FALSE);"),
            "simulator.models.viona:LockedExpireRing.viona_ring_lease_expire_cb",
            "the + lines are 6703a0e's: before it the broadcast was made without vr_lock"),
)}


def excerpt(func: str) -> Excerpt:
    try:
        return EXCERPTS[func]
    except KeyError:
        raise UsageError(f"no excerpt for {func!r} (excerpts: {', '.join(EXCERPTS)})") from None


def beside_text(func: str) -> str:
    """The real lines, then the model's, as plain text."""
    e = excerpt(func)
    real = "\n".join(f"    {line}" for line in e.lines)
    return (f"{e.where}\n{real}\n\nthe model ({', '.join(e.model_names)}):\n"
            f"{textwrap.indent(e.model_source(), '    ')}")


class Beside:
    """The real C lines next to the model's code; shows as two columns in a notebook."""

    def __init__(self, func: str):
        self.e = excerpt(func)

    def __repr__(self) -> str:
        return beside_text(self.e.func)

    def _repr_html_(self) -> str:
        x = html.escape
        real = "\n".join(
            f"<span style='background:#e6ffec'>{x(line)}</span>" if line.startswith("+")
            else x(line) for line in self.e.lines)
        box = "margin:0;padding:6px;background:#f7f7f7;font-size:12px;"
        # The quoted C is a few short lines and may wrap (between words: a
        # notebook's own style would break them anywhere); the model's Python
        # must keep its lines (a wrapped line reads as two): its docstrings and
        # comments come wrapped at PROSE (model_source), a long line of code
        # scrolls sideways, and its column takes what the quotation leaves.
        return (
            "<div style='display:flex;gap:1em;max-width:1100px'>"
            "<div style='flex:0 1 auto;max-width:42%'>"
            f"<div style='font-size:11px;color:#555'>{x(self.e.where)}</div>"
            f"<pre style='{box}white-space:pre-wrap;word-break:normal'>{real}</pre>"
            f"<div style='font-size:11px'><i>{x(self.e.note)}</i></div></div>"
            "<div style='flex:1 1 0;min-width:0'>"
            f"<div style='font-size:11px;color:#555'>the model: "
            f"<code>{x(', '.join(self.e.model_names))}</code></div>"
            f"<pre style='{box}white-space:pre;overflow-x:auto'>"
            f"{x(self.e.model_source())}</pre></div></div>")


def beside(func: str) -> Beside:
    """The real lines of ``func`` beside the model step that stands for it."""
    return Beside(func)
