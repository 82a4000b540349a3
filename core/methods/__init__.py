"""The method registry: the only place a method is added. The UI pickers, the README table, the CLI choices, the
benchmarks and the contract tests all enumerate :data:`REGISTRY`."""
from __future__ import annotations

from .base import Method, Param, ThresholdSpec
from .cnn import CNN_COSINE, CNN_EUCLIDEAN
from .hashing import AHASH, COLORHASH, DHASH, PHASH, WHASH
from .pdq import PDQ
from .pixels import COSINE, EUCLIDEAN
from .ssim import SSIM

#: Every method, in display order (the article's five families first).
REGISTRY: tuple[Method, ...] = (EUCLIDEAN, SSIM, AHASH, COSINE, CNN_EUCLIDEAN, CNN_COSINE, PHASH, DHASH, WHASH,
                                COLORHASH, PDQ)
METHODS: dict[str, Method] = {m.name: m for m in REGISTRY}
#: The six rows of the article's Tables 1 and 2.
ARTICLE: tuple[str, ...] = tuple(m.name for m in REGISTRY if m.article_row)


def get(name: str) -> Method:
    """Look a method up by its stable name; ValueError lists the valid names."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}") from None


def parse_methods(spec: str) -> list[Method]:
    """``all`` | ``article`` | comma list of names -> methods (ValueError names the valid choices)."""
    spec = (spec or "").strip()
    if spec == "all":
        return list(REGISTRY)
    if spec == "article":
        return [METHODS[n] for n in ARTICLE]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ValueError(f"no methods given; use all, article or a comma list of: {', '.join(METHODS)}")
    return [get(n) for n in names]


def methods_table() -> str:
    """The README's methods table (Markdown), generated from the registry; a test keeps README.md in sync."""
    lines = ["| name | method | compares | score | closer | default threshold | parameters |",
             "|---|---|---|---|---|---|---|"]
    for m in REGISTRY:
        spec = m.threshold_spec()
        params = ", ".join(f"`{p.name}`={p.default}" for p in m.params) or "-"
        lines.append(f"| `{m.name}` | {m.label} | {m.summary} | {m.unit} | "
                     f"{'higher' if m.higher_is_closer else 'lower'} | {spec.default:g} | {params} |")
    return "\n".join(lines)


from .registry import register, registered, unregister  # noqa: E402  (run-time additions: tests, plug-ins)

__all__ = ["register", "registered", "unregister", "methods_table", "ARTICLE", "METHODS", "Method", "Param", "REGISTRY", "ThresholdSpec", "get", "parse_methods"]
