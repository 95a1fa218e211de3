"""Paint a facade label map in the browser and watch the pretrained pix2pix generator build it.

    python facade_painter.py      # then open http://127.0.0.1:8000/
    python facade_painter.py --port 8080 --device cpu --checkpoint checkpoints/facades_generator.pth

Writes no files. The page is static HTML/CSS/JS in painter/, served by painter/server.py
(docs/painter.rst). The network is the official one in fp32, exactly; --fast runs a faster copy.
"""

import timeit

import torch

from facades_generator import add_generator_arguments, open_generator
from helpers.lesson import ArgumentParser, LessonError, at_least, choose_device, fail
from painter.server import PainterServer, is_loopback
from pix2pix_models import IMAGE_SIZE, translate


def parse_args(argv):
    parser = ArgumentParser(description="A web page to paint facade labels and generate facades.")
    parser.add_argument(
        "--host", default="127.0.0.1", help="0.0.0.0 opens it to the network (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=at_least(0, below=2**16), default=8000, help="0: any free (default: 8000)"
    )
    add_generator_arguments(parser)  # --checkpoint, --device, --fast
    args = parser.parse_args(argv)
    if not args.host.strip():  # a socket bound to '' listens on every interface, unannounced
        parser.error("--host is empty; pass 127.0.0.1 (this computer only) or 0.0.0.0 (network)")
    return args


def load_model(args, device):
    """Load G once, before serving. Returns (net_G, None), or (None, why) for the page to show."""
    try:
        net_G, name, _ = open_generator(args.checkpoint, device, fast=args.fast)
    except LessonError as exc:
        return None, f"{exc} Then restart facade_painter.py."
    real_A = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)  # any label: the time does not depend on it
    # The first pass sets up kernels and memory (before a student waits); the second is timed.
    seconds = min(timeit.repeat(lambda: translate(net_G, real_A), number=1, repeat=2))
    print(f"Loaded {args.checkpoint} ({name}); one facade takes {seconds:.2f} s on {device}")
    return net_G, None


def main(argv=None):
    args = parse_args(argv)
    try:
        device = choose_device(args.device)
    except LessonError as exc:
        fail(str(exc))
    where = f"{args.host}:{args.port}"
    print(f"Facade painter: {where}, checkpoint {args.checkpoint}, device {device}", flush=True)
    try:  # take the port before the slow model load, so a busy port fails at once
        server = PainterServer((args.host, args.port), None)
    except OSError as exc:  # a busy port, an unknown address
        fail(f"cannot listen on {where} ({exc.strerror or exc}); choose another --port or --host.")
    server.net_G, server.unavailable_reason = load_model(args, device)
    if server.net_G is None:
        print(f"warning: {server.unavailable_reason} The page loads, but cannot generate.")
    if not is_loopback(args.host):
        print(
            f"warning: listening on {args.host}: anyone on the network can use the painter (at this"
            " computer's IP address); --host 127.0.0.1 keeps it to this computer."
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
