"""LiteRT against TensorFlow (issue 26): one film through the CLI, whole process, against the time
to import NumPy, OpenCV and pydicom in the same run; the steady scoring rate; peak memory.

    python benchmarks/bench_engines.py [--film FILE] [--images FOLDER] [--runs 5] [--limit 120]
                                       [--model BUNDLE]

Cold: each run starts, in turn, `python -c "import numpy, cv2, pydicom"` and
`pneumo-desktop score FILM --heatmaps DIR --engine E` for both engines (wall clock, peak RSS
of that process); medians over the runs, and each engine's ratio to the import baseline.
Steady: one process per engine loads the model, then times (a) the forward pass with heat maps
and the learned input check on inputs decoded beforehand, batch 16 (wall clock, and CPU time per
image, which other work on the cores disturbs less), and (b) `score_files` over the folder
(decoding included, as `score` does) against decoding alone in the same thread pool (the limit
the pipeline approaches); it reports its own peak RSS.
The machine's load average is printed before and after: other work on the cores slows both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEFAULT_FILM = DATA / "chest_xray_native" / "train" / "PNEUMONIA" / "person1078_virus_1788.jpeg"
ENGINES = ("litert", "tensorflow")

# a child that runs the CLI and reports its own peak memory on stderr
CLI_WITH_PEAK = """
import resource, sys
from pneumo_desktop.cli.main import main
code = main(sys.argv[1:])
print(f"PEAK_RSS_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
sys.exit(code)
"""


def _env() -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("PNEUMO_ENGINE", None)
    return env


def _timed(cmd: list[str]) -> tuple[float, float | None]:
    """Wall seconds and the child's peak RSS in MB (when it reports one)."""
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 3):  # 3: refused by the input check, still scored
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{done.stderr[-2000:]}")
    peak = [line.split()[1] for line in done.stderr.splitlines()
            if line.startswith("PEAK_RSS_KB")]
    return seconds, (int(peak[0]) / 1024 if peak else None)


def cold(film: Path, model: str | None, runs: int) -> dict[str, dict[str, float]]:
    """Medians over `runs` interleaved runs: the import baseline and each engine's CLI run."""
    times: dict[str, list[float]] = {"imports": [], **{e: [] for e in ENGINES}}
    peaks: dict[str, list[float]] = {e: [] for e in ENGINES}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            seconds, _ = _timed([sys.executable, "-c", "import numpy, cv2, pydicom"])
            times["imports"].append(seconds)
            for engine in ENGINES:
                cmd = [sys.executable, "-c", CLI_WITH_PEAK, "score", str(film), "--out",
                       f"{tmp}/{engine}.csv", "--heatmaps", f"{tmp}/{engine}", "--engine",
                       engine] + (["--model", model] if model else [])
                seconds, peak = _timed(cmd)
                times[engine].append(seconds)
                peaks[engine].append(peak or 0.0)
    result = {"imports": {"median_s": statistics.median(times["imports"]),
                          "min_s": min(times["imports"])}}
    for engine in ENGINES:
        result[engine] = {"median_s": statistics.median(times[engine]),
                          "min_s": min(times[engine]), "peak_rss_mb": max(peaks[engine]),
                          "x_imports": statistics.median(times[engine])
                          / statistics.median(times["imports"])}
    return result


def steady_worker(engine: str, images: Path, limit: int, model: str | None) -> dict:
    """In this process: the model's rate on decoded inputs, and score_files' rate."""
    import resource

    import numpy as np

    from pneumo_desktop.imaging.image_io import load_xray
    from pneumo_desktop.imaging.preprocessing import prepare
    from pneumo_desktop.model.bundle import default_bundle_path, read_bundle
    from pneumo_desktop.model.inference import Predictor

    bundle = read_bundle(model or default_bundle_path())
    started = time.perf_counter()
    predictor = Predictor(bundle, batch_size=16, engine=engine)
    load_s = time.perf_counter() - started
    paths = sorted(p for p in images.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg",
                                                                        ".png"))[:limit]
    size = bundle.card.input_size
    inputs = np.stack([prepare(load_xray(p, min_side=size).pixels, size, bundle.card.preprocessing)
                       for p in paths])
    predictor.predict_with_features(inputs[:16])  # warm
    started, cpu = time.perf_counter(), time.process_time()
    predictor._run(inputs)
    model_rate = len(inputs) / (time.perf_counter() - started)
    model_cpu_ms = 1000 * (time.process_time() - cpu) / len(inputs)
    with ThreadPoolExecutor(predictor.decode_workers) as pool:  # as score_files decodes
        started = time.perf_counter()
        decoded = sum(1 for _ in pool.map(predictor.model_input, paths))
        decode_rate = decoded / (time.perf_counter() - started)
    started = time.perf_counter()
    scored = sum(1 for _ in predictor.score_files(paths))
    files_rate = scored / (time.perf_counter() - started)
    return {"engine": predictor.engine, "model_load_s": load_s, "n": len(paths),
            "model_images_per_s": model_rate, "model_cpu_ms_per_image": model_cpu_ms,
            "decode_only_images_per_s": decode_rate, "score_files_images_per_s": files_rate,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def steady(images: Path, limit: int, model: str | None) -> dict[str, dict]:
    out = {}
    for engine in ENGINES:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--steady-worker", engine,
               "--images", str(images), "--limit", str(limit)] + (
            ["--model", model] if model else [])
        done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=True)
        out[engine] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--film", type=Path, default=DEFAULT_FILM)
    parser.add_argument("--images", type=Path, default=DATA / "chest_xray_native")
    parser.add_argument("--model", help="model bundle (default: models/default)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--limit", type=int, default=120)
    parser.add_argument("--steady-worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.steady_worker:
        print(json.dumps(steady_worker(args.steady_worker, args.images, args.limit,
                                       args.model)))
        return
    if not args.film.is_file():
        raise SystemExit(f"no film at {args.film} (give --film)")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    figures = {"cold": cold(args.film, args.model, args.runs),
               "steady": steady(args.images, args.limit, args.model)}
    figures["load_average_after"] = os.getloadavg()[0]
    base = figures["cold"]["imports"]
    print(f"import numpy, cv2, pydicom: {base['median_s']:.2f} s median "
          f"(min {base['min_s']:.2f}) over {args.runs} runs")
    for engine in ENGINES:
        c, s = figures["cold"][engine], figures["steady"][engine]
        print(f"{engine:>10}: one film, whole process {c['median_s']:.2f} s median "
              f"(min {c['min_s']:.2f}) = {c['x_imports']:.1f}x the imports, peak "
              f"{c['peak_rss_mb']:.0f} MB | steady: model load {s['model_load_s']:.2f} s, "
              f"model {s['model_images_per_s']:.1f} images/s "
              f"({s['model_cpu_ms_per_image']:.1f} ms CPU each), with decoding "
              f"{s['score_files_images_per_s']:.1f} images/s (decoding alone "
              f"{s['decode_only_images_per_s']:.1f}/s; {s['n']} films), peak "
              f"{s['peak_rss_mb']:.0f} MB")
    print(f"load average after: {figures['load_average_after']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
