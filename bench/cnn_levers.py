"""The CNN speed levers of issue 15, each measured (used by ``bench/cnn_e2e.py --only levers``; runnable alone).

1. JPEG ``draft`` (decode at the smallest 1/2^k scale whose sides stay >= 224 px) vs a full decode: per-image cosine
   between the two feature vectors, and mAP / pair F1 (threshold 0.70) of each on the shared labelled sets
   (``/work/shared/data/*``, labels from their ``GROUND_TRUTH.csv``), plus decode time on the 640x480 files.
2. ONNX Runtime: intra-op threads 1 vs 2, batch 4 / 16 / 32, thread spinning on / off, the graph optimised and
   saved vs optimised at each session start (session creation time).
3. INT8 static quantisation (QDQ, per-channel weights, calibrated on the demo photos): speed vs fp32, cosine of the
   features to fp32, mAP per shared set. Shipped only if cosine >= 0.99 everywhere and every mAP within 0.005.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = Path("/work/shared/data")
THRESHOLD = 0.70


def _shared_sets():
    from core import datasets

    out = []
    for d in sorted(SHARED.glob("*")):
        if (d / "GROUND_TRUTH.csv").is_file():
            out.append((d.name, datasets.load(str(d), labels="csv")))
    return out


def _features(ds, rows):
    from core.encoding import Features
    from core.methods import get

    m = get("cnn-cosine")
    return Features(method=m, params=m.default_params(), data=rows, names=[it.name for it in ds.items],
                    content_ids=[it.content_id for it in ds.items])


def _quality(ds, rows) -> tuple[float, float]:
    from core import evaluation

    f = _features(ds, rows)
    g = {it.name: it.group for it in ds.items}
    return evaluation.mean_average_precision(f, g), evaluation.pair_prf(f, g, THRESHOLD)["f1"]


def _cos(a, b) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _pixels(ds, draft: bool) -> np.ndarray:
    from core import cnn, images

    return np.stack([cnn.resize_to_input(images.open_image(it.source, target_size=224 if draft else None))
                     for it in ds.items])


def lever_draft(R: list, model) -> dict:
    from core import images

    R.append("#### JPEG draft vs full decode (features of the same files)\n")
    R.append("| set | images | min cosine draft/full | mAP full | mAP draft | pair F1 full | pair F1 draft |")
    R.append("|---|---:|---:|---:|---:|---:|---:|")
    res = {}
    for name, ds in _shared_sets():
        full = model.features_from_pixels(_pixels(ds, False))
        drafted = model.features_from_pixels(_pixels(ds, True))
        (map_f, f1_f), (map_d, f1_d) = _quality(ds, full), _quality(ds, drafted)
        c = float(_cos(full, drafted).min())
        res[name] = {"min_cos": c, "map_full": map_f, "map_draft": map_d, "f1_full": f1_f, "f1_draft": f1_d}
        R.append(f"| {name} | {len(ds.items)} | {c:.4f} | {map_f:.4f} | {map_d:.4f} | {f1_f:.3f} | {f1_d:.3f} |")
    # decode cost on the benchmark's 640x480 photos
    import run as bench_run

    folder = bench_run.build_workload(ROOT / "bench" / "work", False)
    files = sorted(folder.glob("*_b_web.jpg"))[:100]  # the 640x480 "web" copies
    for flag in (False, True):
        t = time.perf_counter()
        for f in files:
            images.open_image(str(f), target_size=224 if flag else None)
        res[f"decode_ms_{'draft' if flag else 'full'}"] = (time.perf_counter() - t) / len(files) * 1e3
    R.append(f"\nDecode of a 640x480 JPEG: {res['decode_ms_full']:.2f} ms full, {res['decode_ms_draft']:.2f} ms "
             "drafted to 320x240 (mean over 100 files, one process). The draft is what "
             "`core.images.open_image(target_size=224)` already did before this issue; kept.\n")
    return res


def _session(path, threads: int, spin: bool, opt_file: str | None = None, level=None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if opt_file:
        so.optimized_model_filepath = opt_file
    if level is not None:
        so.graph_optimization_level = level
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def _rate(sess, x: np.ndarray, batch: int, repeats: int = 3) -> float:
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        for s in range(0, len(x), batch):
            sess.run(["features"], {"image": x[s:s + batch]})
        ts.append(time.perf_counter() - t)
    return len(x) / statistics.median(ts)


def lever_ort(R: list, model, x: np.ndarray) -> dict:
    import onnxruntime as ort

    res = {}
    R.append("#### ONNX Runtime settings (network only, 224 px inputs already in memory)\n")
    R.append("| threads | spinning | batch | img/s |")
    R.append("|---:|---|---:|---:|")
    for threads in (1, 2):
        for spin in (True, False):
            sess = _session(model.onnx_file, threads, spin)
            sess.run(["features"], {"image": x[:4]})
            for batch in ((4, 16, 32) if (threads == 2 and spin) else (16,)):
                r = _rate(sess, x, batch)
                res[f"t{threads}-{'spin' if spin else 'nospin'}-b{batch}"] = r
                R.append(f"| {threads} | {'on' if spin else 'off'} | {batch} | {r:.0f} |")
    # session creation: optimise at every start vs load a saved optimised graph
    with tempfile.TemporaryDirectory() as d:
        opt = str(Path(d) / "opt.onnx")
        _session(model.onnx_file, 2, True, opt_file=opt)
        t = time.perf_counter()
        for _ in range(3):
            _session(model.onnx_file, 2, True)
        t_raw = (time.perf_counter() - t) / 3
        t = time.perf_counter()
        for _ in range(3):
            s2 = _session(opt, 2, True, level=ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        t_opt = (time.perf_counter() - t) / 3
        r_opt = _rate(s2, x, 16)
    res.update(session_raw_s=t_raw, session_saved_s=t_opt, saved_rate=r_opt)
    R.append(f"\nSession creation: {t_raw * 1e3:.0f} ms optimising the exported graph at start, {t_opt * 1e3:.0f} ms "
             f"loading a saved optimised graph ({r_opt:.0f} img/s at batch 16 with it).\n")
    return res


def lever_int8(R: list, model, sets) -> dict:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from core import datasets, demo

    calib_ds = datasets.load(str(demo.demo_dataset_path()))
    calib = _pixels(calib_ds, True)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([model.normalise(calib[i:i + 1]) for i in range(len(calib))])

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"image": x}

    res = {}
    with tempfile.TemporaryDirectory() as d:
        q = Path(d) / "int8.onnx"
        t = time.perf_counter()
        quantize_static(model.onnx_file, str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
        res["quantise_s"] = time.perf_counter() - t
        sq = _session(q, 2, True)
        sf = _session(model.onnx_file, 2, True)
        x = model.normalise(np.concatenate([_pixels(ds, True) for _, ds in sets])[:128])
        res["fp32_rate"], res["int8_rate"] = _rate(sf, x, 16), _rate(sq, x, 16)
        R.append("#### INT8 static quantisation (QDQ, per-channel, calibrated on the 38 demo photos)\n")
        R.append("| set | min cosine int8/fp32 | mAP fp32 | mAP int8 | pair F1 fp32 | pair F1 int8 |")
        R.append("|---|---:|---:|---:|---:|---:|")
        ok = True
        for name, ds in sets:
            xi = model.normalise(_pixels(ds, True))
            f32 = np.concatenate([sf.run(["features"], {"image": xi[s:s + 16]})[0] for s in range(0, len(xi), 16)])
            i8 = np.concatenate([sq.run(["features"], {"image": xi[s:s + 16]})[0] for s in range(0, len(xi), 16)])
            c = float(_cos(f32, i8).min())
            (m32, f132), (m8, f18) = _quality(ds, f32), _quality(ds, i8)
            ok &= c >= 0.99 and abs(m8 - m32) <= 0.005
            res[name] = {"min_cos": c, "map_fp32": m32, "map_int8": m8}
            R.append(f"| {name} | {c:.4f} | {m32:.4f} | {m8:.4f} | {f132:.3f} | {f18:.3f} |")
    res["ship"] = ok
    R.append(f"\nSpeed at batch 16, 2 threads: fp32 {res['fp32_rate']:.0f} img/s, int8 {res['int8_rate']:.0f} img/s "
             f"({res['int8_rate'] / res['fp32_rate']:.2f}x). Acceptance (cosine >= 0.99 and mAP within 0.005 on "
             f"every set): **{'met' if ok else 'not met'}** -> "
             f"{'INT8 could ship' if ok else 'fp32 stays the only model'}.\n")
    return res


def bench_levers(R: list) -> dict:
    from core import cnn

    model = cnn.get_model(backend="onnx")
    sets = _shared_sets()
    x = model.normalise(np.concatenate([_pixels(ds, True) for _, ds in sets])[:128])
    R.append("### CNN levers (in process)\n")
    res = {"draft": lever_draft(R, model), "ort": lever_ort(R, model, x)}
    try:
        res["int8"] = lever_int8(R, model, sets)
    except Exception as e:  # noqa: BLE001 - quantisation tooling missing or failing is a result too
        R.append(f"INT8 quantisation could not be measured: {type(e).__name__}: {e}\n")
    return res


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "bench"))
    out: list = []
    bench_levers(out)
    print("\n".join(out))
