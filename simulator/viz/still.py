"""A still of a widget: what it showed when the cell ran, as plain HTML.

The stepper and the scheduler game are ipywidgets driven by Python; with no
kernel behind the page (the static book) nothing could answer their buttons,
and saved widget state would need a widget manager loaded from the web. So the
book shows each widget as a still instead: its HTML panes as they stood (the
dtrace line, the swimlane picture, the state), its buttons and sliders drawn
disabled, and a note that the notebook makes it move.

``register()`` installs the still as every widget's ``text/html`` form in the
running IPython, next to the live widget view it already has.
"""
from __future__ import annotations

import html

NOTE = ("<p class='hvr-still-note'><em>A still of an interactive widget: open the notebook "
        "in Jupyter to step, play and undo.</em></p>")


def still(widget) -> str:
    """The widget and its children as static HTML."""
    import ipywidgets as w

    if isinstance(widget, w.Box):
        direction = "row" if isinstance(widget, w.HBox) else "column"
        inner = "".join(still(child) for child in widget.children)
        return (f"<div style='display:flex;flex-direction:{direction};gap:4px;"
                f"align-items:flex-start;flex-wrap:wrap'>{inner}</div>")
    if isinstance(widget, w.HTML | w.HTMLMath):
        return f"<div>{widget.value}</div>"
    if isinstance(widget, w.Label):
        return f"<span>{html.escape(str(widget.value))}</span>"
    if isinstance(widget, w.Button):
        return f"<button disabled>{html.escape(widget.description)}</button>"
    if isinstance(widget, w.IntSlider | w.FloatSlider):
        return (f"<label>{html.escape(widget.description)} "
                f"<input type='range' disabled min='{widget.min}' max='{widget.max}' "
                f"value='{widget.value}'/> {widget.value}</label>")
    return f"<code>{html.escape(type(widget).__name__)}</code>"


def still_page(widget) -> str:
    return f"<div class='hvr-still'>{still(widget)}{NOTE}</div>"


def register(ip=None) -> None:
    """Give every ipywidget a ``text/html`` still in this IPython session."""
    import ipywidgets as w

    if ip is None:
        from IPython import get_ipython

        ip = get_ipython()
    ip.display_formatter.formatters["text/html"].for_type(w.Widget, still_page)
