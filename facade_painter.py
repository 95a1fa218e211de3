"""Paint a facade label map in the browser and watch the pretrained pix2pix generator build the facade.

    python facade_painter.py                       # then open http://127.0.0.1:8000/
    python facade_painter.py --port 8080 --device cpu --checkpoint checkpoints/facades_generator.pth

Writes no files: the page's download buttons save the label and the facade from the browser. The
page is static HTML/CSS/JS in painter/, served with a small HTTP API by painter/server.py (which
lists it; docs/painter.rst describes it). The network is the official one in fp32, exactly; --fast
runs a faster copy. Without weights the page still loads and says how to fetch them.
"""

import time
from pathlib import Path

from PIL import Image

from facades_generator import CLASS_COLORS, DEFAULT_CHECKPOINT, create_facades_generator, load_label, translate
from helpers.cli import ArgumentParser, LessonError, add_device_argument, at_least, choose_device, fail
from painter.server import PainterServer, is_loopback, url_host
from pix2pix_models import IMAGE_SIZE


def load_model(checkpoint, device, fast):
    """Load G once, before serving. Returns (net_G, None), or (None, why) so the page can still explain."""
    try:
        net_G = create_facades_generator(checkpoint, device=device)
    except LessonError as exc:
        return None, f"{exc} Then restart facade_painter.py."
    if fast:
        from speed import fast_generator  # opt-in speed (speed/, docs/speed.rst); prints what it switches on
        net_G = fast_generator(net_G, device)
    blank = load_label(Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), CLASS_COLORS["background"])).unsqueeze(0)
    translate(net_G, blank)  # the first pass sets up kernels and memory: do it before a student waits
    start = time.perf_counter()
    translate(net_G, blank)
    print(f"Loaded {checkpoint}; one facade takes {time.perf_counter() - start:.2f} s on {device}", flush=True)
    return net_G, None


def main(argv=None):
    parser = ArgumentParser(description="A web page to paint facade labels and generate facades.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, reachable from this computer only)")
    parser.add_argument("--port", type=at_least(0), default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                        help="facades generator weights (default: checkpoints/facades_generator.pth)")
    add_device_argument(parser)
    parser.add_argument("--fast", action="store_true",
                        help="a faster copy of the network (bf16/fp16 where native, CPU kernels); default: exact fp32")
    args = parser.parse_args(argv)

    try:
        device = choose_device(args.device)
    except LessonError as exc:
        fail(str(exc))
    print(f"Facade painter: host {args.host}, port {args.port}, checkpoint {args.checkpoint}, device {device}",
          flush=True)
    try:  # take the port before the slow model load, so a busy port fails at once
        server = PainterServer((args.host, args.port), None)
    except (OSError, OverflowError) as exc:  # a busy port, an address this computer does not have, a port > 65535
        fail(f"cannot listen on {args.host}:{args.port} ({getattr(exc, 'strerror', None) or exc}); choose another "
             "--port (or --host).")
    server.net_G, server.unavailable_reason = load_model(args.checkpoint, device, args.fast)
    if server.net_G is None:
        print(f"warning: {server.unavailable_reason} The page loads, but cannot generate.", flush=True)
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}: anyone who can reach this computer on the network can use the "
              "painter (open it by this computer's IP address). Use --host 127.0.0.1 to keep it private.", flush=True)
    host, port = server.server_address[:2]
    print(f"Facade painter running at http://{url_host(host)}:{port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopped.")
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
