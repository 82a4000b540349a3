"""Start the dashboard with everything a first visitor needs already loaded (``bash scripts/run.sh`` runs this).

Streamlit runs ``app.py`` only when the first browser session connects, so a plain ``streamlit run app.py`` made the
first visitor wait for the imports of every page (pandas, the UI and core modules: 2-3 s on 2 cores) and, on the
first CNN search, for the model load. Here they happen before the server answers its health check:

1. import the heavy modules every page uses (same process, so the pages find them in ``sys.modules``);
2. :func:`core.warmup.warm_up`: the demo sets and - unless ``DUPFINDER_WARMUP=0`` - the ONNX export (only if the
   cache has none) and the CNN model (ONNX Runtime; torch is not imported when the export exists);
3. hand over to Streamlit's own command line (``streamlit run app.py ARGS``).

Usage: ``python scripts/serve.py [streamlit options]``, e.g. ``--server.port 8600``.
"""
from __future__ import annotations

import logging
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def preload() -> float:
    """Import the app's modules and warm the caches; returns the seconds spent. Never raises."""
    t0 = time.perf_counter()
    try:
        import pandas  # noqa: F401 - every page builds DataFrames
        import streamlit  # noqa: F401

        import core.datasets  # noqa: F401
        import core.encoding  # noqa: F401
        import core.search  # noqa: F401
        from core import config, warmup

        # (ui.* is left to the first run: its st.cache_* decorators must be created with Streamlit's runtime up)

        warmup.warm_up(cnn=config.background_warmup())
        if config.background_warmup():  # (the tests turn warm-up off: their servers start bare)
            for page, err in rehearse():
                if err:
                    logging.getLogger("dupfinder").warning("rehearsal of %s failed: %s", page, err)
    except Exception as exc:  # noqa: BLE001 - a failed preload only means the first visitor waits
        logging.getLogger("dupfinder").warning("preload failed: %s", exc)
    return time.perf_counter() - t0


#: the pages a first visitor opens, with the query parameters of a shared link (method=...)
REHEARSED = (("pages/home.py", {}), ("pages/search.py", {}), ("pages/search.py", {"method": "cnn-cosine"}),
             ("pages/duplicates.py", {}))


def rehearse(pages=REHEARSED) -> list[tuple[str, str | None]]:
    """Run the pages a first visitor opens once, in this process, before the server answers (Streamlit's AppTest:
    no browser, no socket). The first real session then finds ui/ and the pages imported and the demo set's
    thumbnails and results in the app's caches. Measured on a quiet machine (bench/RESULTS.md, cnn-e2e section):
    first average-hash result 3.29 s instead of 3.82 s after the page opens. Returns (page, error or None)."""
    from streamlit.testing.v1 import AppTest

    app = os.path.join(ROOT, "app.py")
    out = []
    for page, query in pages:
        try:
            at = AppTest.from_file(app, default_timeout=120)
            for k, v in query.items():
                at.query_params[k] = v
            at.switch_page(page)
            at.run()
            out.append((page, str(at.exception[0].value) if at.exception else None))
        except Exception as exc:  # noqa: BLE001 - a failed rehearsal only means the first visitor waits
            out.append((page, repr(exc)))
    return out


def main() -> int:
    secs = preload()
    print(f"dupfinder: preloaded in {secs:.1f} s", flush=True)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", os.path.join(ROOT, "app.py"), *sys.argv[1:]]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
