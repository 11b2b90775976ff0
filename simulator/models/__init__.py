"""Hypervisor components, one module each, named after the real code.

Methods that stand for real functions carry their names (``vq_relchain``,
``virtqueue_enable_cb_prepare``...) and are generators of engine ops, so a
model reads like the C it stands for and a trace reads like dtrace output.
"""
