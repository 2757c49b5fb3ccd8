"""The ``opl`` command: ``opl generate``, ``opl info``, ``opl plot``, and the training commands
``opl fit | validate | test | predict`` (Lightning's CLI).

Bad input ends the command with one line on stderr naming what was wrong, and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from opl.errors import OplInputError
from opl.format import GRID_CONVENTIONS


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``opl`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in TRAINING_COMMANDS:
        return _train(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except OplInputError as err:
        print(f"opl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"opl {args.command}: interrupted; completed samples are kept, rerun the same command "
            "to resume",
            file=sys.stderr,
        )
        return 130


TRAINING_COMMANDS = ("fit", "validate", "test", "predict")
"""Subcommands handed to Lightning's CLI (``opl fit --help`` lists their options)."""


def _train(argv: list[str]) -> int:
    from jsonargparse import ArgumentError

    from opl.train import TrainingDiverged
    from opl.train.cli import run_lightning

    try:
        run_lightning(_shipped_configs(argv))
    except TrainingDiverged as err:
        print(f"opl {argv[0]}: training diverged: {err}", file=sys.stderr)
        return 1
    except ArgumentError as err:  # the config or the command line, as jsonargparse read it
        print(f"opl {argv[0]}: error: {_parse_error(str(err))}", file=sys.stderr)
        return 2
    except Exception as err:
        message = _user_error(err)
        if message is None:
            raise
        print(f"opl {argv[0]}: error: {message}", file=sys.stderr)
        return 2
    return 0


def _user_error(err: BaseException) -> str | None:
    """The message of the bad input behind ``err``: an ``OplInputError`` anywhere in its chain
    (jsonargparse wraps what a class raises while it builds it), or a ``ValueError`` /
    ``TypeError`` raised by opl's own code (a model refusing its arguments); None for a bug."""
    chain, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        chain.append(err)
        err = err.__cause__ or err.__context__
    for candidate in chain:
        if isinstance(candidate, OplInputError):
            return str(candidate)
    for candidate in chain:
        if isinstance(candidate, (ValueError, TypeError)) and _raised_by_opl(candidate):
            return " ".join(str(candidate).split())
    return None


def _raised_by_opl(err: BaseException) -> bool:
    """Whether the innermost frame of ``err``'s traceback is in opl's or data_gen's code."""
    frame = err.__traceback__
    if frame is None:
        return False
    while frame.tb_next is not None:
        frame = frame.tb_next
    path = frame.tb_frame.f_code.co_filename
    return any(f"{os.sep}{package}{os.sep}" in path for package in ("opl", "data_gen"))


def _parse_error(message: str) -> str:
    """jsonargparse's nested report as one line: the chain of keys down to the reason, without
    the alternatives it also tried (``Expected a <class 'NoneType'>``) and the value dumps."""
    skip = ("Given value", "Expected a <class 'NoneType'>", "Errors:", "Subtypes:")
    parts = []
    for line in message.splitlines():
        line = line.strip().removeprefix("- ").strip()
        if line and not line.startswith(skip) and "Does not validate against any" not in line:
            parts.append(line.rstrip(":"))
    return ": ".join(dict.fromkeys(parts)) or message


def _shipped_configs(argv: list[str]) -> list[str]:
    """``argv`` with every ``--config`` value that is not a file but names a shipped config
    replaced by that config's path (``opl.configs.resolve_config``)."""
    from opl.configs import resolve_config

    out = []
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            arg = "--config=" + resolve_config(arg.split("=", 1)[1])
        elif i > 0 and argv[i - 1] == "--config":
            arg = resolve_config(arg)
        out.append(arg)
    return out


def _parser() -> argparse.ArgumentParser:
    import opl
    from opl.data.importers import FORMATS

    parser = argparse.ArgumentParser(
        prog="opl",
        description="Operator learning for PDEs. Training: opl {fit,validate,test,predict} "
        "--config CONFIG (Lightning's CLI; see opl fit --help).",
    )
    parser.add_argument("--version", action="version", version=f"opl {opl.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser(
        "generate",
        help="generate (or resume) a PDE dataset from a generator config",
        description="Generate a dataset file from a YAML generator config (configs/data/*.yaml). "
        "An interrupted run resumes when the same command is run again.",
    )
    gen.add_argument(
        "config", help="generator config (YAML), or a shipped one: configs/data/NAME.yaml"
    )
    gen.add_argument("-o", "--output", help="output file (default: the config's 'output')")
    gen.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per core; 0 computes in this process)",
    )
    gen.add_argument("--scheduler", help="address of a Dask scheduler to compute on instead")
    gen.add_argument("--n-samples", type=int, help="override the config's n_samples")
    gen.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    gen.set_defaults(run=_generate)

    info = sub.add_parser("info", help="summarise a dataset file")
    info.add_argument("file", help="an opl dataset (HDF5)")
    info.add_argument("--config", action="store_true", help="also print the generator config")
    info.add_argument(
        "--check",
        action="store_true",
        help="also make every check training makes (grid, readers, every chunk finite)",
    )
    info.set_defaults(run=_info)

    export = sub.add_parser(
        "export",
        help="write a trained checkpoint as a bundle (.opl), ONNX or torch.export program",
        description="Write the operator of a Lightning checkpoint of opl.train.OperatorModule "
        "as a safe bundle (safetensors + JSON, loaded by opl.load), or a checkpoint or bundle as "
        "an ONNX model or a torch.export program.",
    )
    export.add_argument("source", help="a checkpoint written by opl fit (.ckpt) or a bundle (.opl)")
    export.add_argument("-o", "--output", required=True, help="output file")
    export.add_argument(
        "--format",
        choices=("bundle", "onnx", "torch-export", "aoti"),
        default="bundle",
        help="bundle (.opl: safetensors + JSON, default), onnx, torch-export (.pt2), or aoti "
        "(.pt2 compiled ahead of time for C++: examples/cpp)",
    )
    export.add_argument(
        "--shape",
        type=int,
        nargs="+",
        help="grid for onnx / torch-export / aoti (default: the training grid)",
    )
    export.set_defaults(run=_export)

    imp = sub.add_parser(
        "import",
        help="write a dataset from another tool (.npz, .pt, netCDF, PDEBench, The Well) in "
        "opl's format",
        description="Convert a dataset file of another tool into an opl dataset "
        "(opl.data.importers explains each format).",
    )
    imp.add_argument("source", help="the file to import")
    imp.add_argument("-o", "--output", required=True, help="the opl dataset to write (.h5)")
    imp.add_argument("--format", choices=FORMATS, help="the source's format (default: guessed)")
    imp.add_argument("--input-fields", nargs="+", default=[], metavar="NAME",
                     help="the source's input fields (npz, pt, netCDF)")  # fmt: skip
    imp.add_argument("--output-fields", nargs="+", default=[], metavar="NAME",
                     help="the source's output fields (npz, pt, netCDF)")  # fmt: skip
    imp.add_argument("--dims", nargs="+", help="dimension names after the sample axis (npz, pt)")
    imp.add_argument("--rename", nargs="+", default=[], metavar="OLD=NEW",
                     help="dimension names to map onto x, y, z, t, component (netCDF)")  # fmt: skip
    imp.add_argument("--grid", choices=GRID_CONVENTIONS, help="grid convention of every axis")
    imp.add_argument("--pde", help="the PDE's short name, stored as the file's pde attribute")
    imp.set_defaults(run=_import)

    plot = sub.add_parser("plot", help="draw the fields of one sample of a dataset as a PNG")
    plot.add_argument("file", help="an opl dataset (HDF5)")
    plot.add_argument("--sample", type=int, default=0, help="sample index (default 0)")
    plot.add_argument("-o", "--output", help="PNG file (default: FILE with .png)")
    plot.set_defaults(run=_plot)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from data_gen.run import generate, load_run_config
    from opl.configs import resolve_config

    config = load_run_config(resolve_config(args.config), n_samples=args.n_samples)
    path = generate(
        config,
        args.output,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
    )
    print(f"wrote {path}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from opl.data.summary import summarise

    print(summarise(args.file, with_config=args.config))
    if args.check:
        from opl.data.check import check_dataset

        lines = check_dataset(args.file)
        print("\n".join(["  check", *("    " + line for line in lines), "  ok"]))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from opl.data.plot import plot_sample

    output = args.output or os.path.splitext(args.file)[0] + f"_sample{args.sample}.png"
    print(f"wrote {plot_sample(args.file, args.sample, output)}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from opl.data.importers import ImportOptions, import_dataset

    rename = {}
    for pair in args.rename:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise OplInputError(f"--rename: expected OLD=NEW, got {pair!r}")
        rename[old] = new
    options = ImportOptions(
        inputs=tuple(args.input_fields),
        outputs=tuple(args.output_fields),
        dims=tuple(args.dims) if args.dims else None,
        rename=rename,
        grid=args.grid,
        pde=args.pde,
    )
    print(f"wrote {import_dataset(args.source, args.output, args.format, options)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import tempfile

    from opl.export import bundle_from_checkpoint, export_aoti, export_onnx, export_program, load

    if args.format == "bundle":
        print(f"wrote {bundle_from_checkpoint(args.source, args.output)}")
        return 0
    if args.source.endswith(".opl"):
        operator = load(args.source)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            operator = load(bundle_from_checkpoint(args.source, os.path.join(tmp, "m.opl")))
    write = {"onnx": export_onnx, "torch-export": export_program, "aoti": export_aoti}[args.format]
    print(f"wrote {write(operator, args.output, args.shape)}")
    return 0
