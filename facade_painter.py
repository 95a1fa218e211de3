"""Paint a facade label map in the browser and watch the pretrained pix2pix generator build it.

    python facade_painter.py      # then open http://127.0.0.1:8000/
    python facade_painter.py --port 8080 --device cpu --checkpoint checkpoints/facades_generator.pth

Writes no files: the page's download buttons save the label and the facade from the browser. The
page is static HTML/CSS/JS in painter/, served with a small HTTP API by painter/server.py (which
lists it; docs/painter.rst describes it). The network is the official one in fp32, exactly; --fast
runs a faster copy. Without weights the page still loads and says how to fetch them.
"""

import time

from PIL import Image

from facades_generator import add_generator_arguments, generator_from_args, load_label
from helpers.lesson import ArgumentParser, LessonError, at_least, choose_device, fail
from facades_generator import CLASS_COLORS
from painter.hosts import is_loopback
from painter.server import PainterServer
from pix2pix_models import IMAGE_SIZE, translate


def parse_args(argv):
    parser = ArgumentParser(description="A web page to paint facade labels and generate facades.")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, reachable from this computer only)",
    )
    parser.add_argument(
        "--port",
        type=at_least(0),
        default=8000,
        help="port to listen on; 0 picks a free one (default: 8000)",
    )
    add_generator_arguments(parser)  # --checkpoint, --device, --fast
    return parser.parse_args(argv)


def load_model(args, device):
    """Load G once, before serving. Returns (net_G, None), or (None, why) for the page to show."""
    try:
        net_G = generator_from_args(args, device)
    except LessonError as exc:
        return None, f"{exc} Then restart facade_painter.py."
    blank = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), CLASS_COLORS["background"])
    real_A = load_label(blank).unsqueeze(0)  # (1, 3, 256, 256)
    translate(net_G, real_A)  # the first pass sets up kernels and memory: before a student waits
    start = time.perf_counter()
    translate(net_G, real_A)
    seconds = time.perf_counter() - start
    print(f"Loaded {args.checkpoint}; one facade takes {seconds:.2f} s on {device}", flush=True)
    return net_G, None


def main(argv=None):
    args = parse_args(argv)
    try:
        device = choose_device(args.device)
    except LessonError as exc:
        fail(str(exc))
    print(
        f"Facade painter: host {args.host}, port {args.port}, checkpoint {args.checkpoint}, "
        f"device {device}",
        flush=True,
    )
    try:  # take the port before the slow model load, so a busy port fails at once
        server = PainterServer((args.host, args.port), None)
    except (OSError, OverflowError) as exc:  # a busy port, an unknown address, a port > 65535
        address = f"{args.host}:{args.port} ({getattr(exc, 'strerror', None) or exc})"
        fail(f"cannot listen on {address}; choose another --port (or --host).")
    server.net_G, server.unavailable_reason = load_model(args, device)
    if server.net_G is None:
        print(
            f"warning: {server.unavailable_reason} The page loads, but cannot generate.", flush=True
        )
    if not is_loopback(args.host):
        print(
            f"warning: listening on {args.host}: anyone who can reach this computer on the network "
            "can use the painter (open it by this computer's IP address). Use --host 127.0.0.1 to "
            "keep it private.",
            flush=True,
        )
    print(f"Facade painter running at {server.url} (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopped.")
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
