"""Tasks: the registry, the item schema and prompt format, BLINK, synthetic and custom tasks.

>>> from pgfselect.tasks import get_task, format_prompt, answer_text
>>> task = get_task("synthetic:CT")                  # the synthetic analogue of BLINK Counting
>>> item = task.items("train", n=1, seed=0)[0]
>>> answer_text(item) in ("A", "B", "C", "D")
True
"""

from .registry import SOURCES, SPLITS, Task, get_task, list_tasks
from .schema import PROMPT_VERSION, Item, answer_text, format_prompt, letters, parse_answer, validate_item

__all__ = ["Item", "PROMPT_VERSION", "SOURCES", "SPLITS", "Task", "answer_text", "format_prompt",
           "get_task", "letters", "list_tasks", "parse_answer", "validate_item"]
