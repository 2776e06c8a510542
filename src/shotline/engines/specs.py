"""Each engine's capabilities, as plain data: the families' specs in one place (`docs/engines/*.md` print
these tables; `tests/engines/test_specs.py` checks every size against its model's rules)."""

from __future__ import annotations

from shotline.engines.base import TEST_SIZES
from shotline.engines.ltx2.spec import LTX2
from shotline.engines.registry import FAMILIES, get_spec
from shotline.engines.tiny.spec import TINY, TINY_NOTICE
from shotline.engines.wan.spec import WAN

SPECS = {name: get_spec(name) for name in FAMILIES}

__all__ = ["LTX2", "SPECS", "TEST_SIZES", "TINY", "TINY_NOTICE", "WAN"]
