from __future__ import annotations

from typing import Any, Mapping


def merged(model: Any, obj: Any, partial: Mapping[str, Any]) -> Any:
    """`obj` (an SDK model) with `partial`'s top-level fields in place of its own, checked by the type again."""
    return model.model_validate({**obj.model_dump(), **dict(partial)})
