"""Bundles: a trained operator as one safe file, and loading it into simulation code.

A bundle (``.opl``) is a zip archive with two members:

* ``model.safetensors``: the weights of the model and of its input/output normalisers (keys
  ``model.*``, ``in_normalizer.*``, ``out_normalizer.*``) and, for a mesh operator (SPON), the
  mesh it was built on (``mesh.points``, ``mesh.cells``, ``mesh.boundary/<name>``, ...), in the
  safetensors format -- plain tensors, never a pickle;
* ``model.json``: ``format_version``, ``opl_version``, the model ``class`` (a name from the
  allow-list ``opl.models.MODELS``) and its ``init_args``, the ``grid`` it was trained on,
  the dataset ``provenance`` and the SHA-256 of ``model.safetensors``.

``load(path)`` needs torch and opl only (not Lightning), checks the archive (zip CRCs, the
weights' hash, the format version, the class) and returns a ``LoadedOperator``: call it on numpy
arrays or tensors in physical units. ``export_onnx``, ``export_program`` (``torch.export``) and
``export_aoti`` (an AOTInductor package for C++, examples/cpp) write it for other runtimes.
``bundle_from_checkpoint`` turns a Lightning checkpoint of
``opl.train.OperatorModule`` into a bundle (``opl export``).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

import opl
from data_gen.fem.mesh import mesh_arrays, mesh_from_arrays, provided_meshes
from opl.data.normalize import ChannelNormalizer
from opl.errors import OplInputError, require_extra
from opl.models import MODELS
from opl.models.base import FieldOperator, check_grid, predict

BUNDLE_FORMAT = "1.0"
"""Version of the bundle format; ``load`` refuses bundles of a newer major version."""
WEIGHTS = "model.safetensors"
METADATA = "model.json"
MAX_METADATA_BYTES = 8 * 2**20
"""``model.json`` larger than this (8 MiB) is refused unread."""
MAX_WEIGHT_BYTES = 2 * 2**30
"""``model.safetensors`` larger than this (2 GiB) is refused unread unless the caller raises it."""
MAX_PARAMETERS = 500_000_000
"""A grid operator whose ``init_args`` give more parameters than this is refused unbuilt."""
MESH = "mesh."
"""Prefix of the mesh arrays a mesh operator's bundle carries (``fem.mesh.mesh_arrays``)."""


class BundleError(OplInputError):
    """A bundle that is unreadable, tampered with, too new, or names a model opl does not have."""


class LoadedOperator(nn.Module):
    """A trained operator in physical units: ``decode(model(encode(x)))``.

    Call it with a tensor or numpy array shaped ``(B, C, *spatial)`` (a batch), ``(C, *spatial)``
    (one sample) or, for one input channel, ``(*spatial)``; the result has the same kind (numpy
    in, numpy out) and layout. ``metadata`` is the bundle's JSON. ``.to(device)`` moves it.
    """

    def __init__(
        self,
        model: FieldOperator,
        in_normalizer: ChannelNormalizer,
        out_normalizer: ChannelNormalizer,
        metadata: dict[str, Any],
    ) -> None:
        super().__init__()
        self.model = model
        self.in_normalizer = in_normalizer
        self.out_normalizer = out_normalizer
        self.metadata = metadata
        self.n_dim = model.n_dim
        self._warned: set[tuple[int, ...]] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Batched prediction ``(B, C_in, *spatial) -> (B, C_out, *spatial)``."""
        return predict(self.model, self.in_normalizer, self.out_normalizer, x)

    def __call__(self, x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        as_numpy = isinstance(x, np.ndarray)
        tensor = torch.as_tensor(x)
        if not torch.compiler.is_compiling():  # values exist at run time, not while tracing
            _check_values(tensor)
        parameter = next(self.model.parameters())
        tensor = tensor.to(device=parameter.device, dtype=parameter.dtype)
        extra = self.n_dim + 2 - tensor.dim()  # leading dimensions to add: batch, channel
        if extra not in (0, 1, 2) or (extra == 2 and self.model.in_channels != 1):
            raise ValueError(
                f"input: expected (B, {self.model.in_channels}, *spatial), "
                f"({self.model.in_channels}, *spatial)"
                + (" or (*spatial)" if self.model.in_channels == 1 else "")
                + f" with {self.n_dim} spatial dimensions, got shape {tuple(tensor.shape)}"
            )
        for _ in range(extra):
            tensor = tensor.unsqueeze(0)
        if tensor.shape[1] != self.model.in_channels:
            raise ValueError(
                f"input: expected {self.model.in_channels} channels, got {tensor.shape[1]} "
                f"(shape {tuple(tensor.shape)})"
            )
        trained = self.metadata.get("grid", {}).get("shape")
        check_grid(self.model, trained, tensor.shape[2:], self._warned, stacklevel=2)
        with torch.no_grad():
            out = super().__call__(tensor)
        if extra >= 1:  # one sample: drop the batch dimension added above
            out = out[0]
        if extra == 2 and out.shape[0] == 1:  # and the channel dimension, for one output channel
            out = out[0]
        return out.cpu().numpy() if as_numpy else out


def _check_values(tensor: torch.Tensor) -> None:
    """ValueError for complex or non-finite inputs, which a model would turn silently into a
    real part (with a warning only) or into an output that is NaN everywhere."""
    if tensor.is_complex():
        raise ValueError(
            f"input: complex values ({tensor.dtype}); the model takes real channels (give the "
            "real and imaginary parts as separate channels, as its training data stored them)"
        )
    if tensor.is_floating_point():
        bad = ~torch.isfinite(tensor)
        if bad.any():
            first = tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"input: {int(bad.sum())} non-finite value(s) (NaN or inf), the first at index "
                f"{first}; the model needs finite inputs (one NaN spreads through every layer)"
            )


def write_bundle(
    path: str | os.PathLike,
    model: FieldOperator,
    in_normalizer: ChannelNormalizer,
    out_normalizer: ChannelNormalizer,
    grid: dict[str, Any],
    provenance: dict[str, Any],
) -> str:
    """Write a bundle of ``model`` and its normalisers to ``path``; return the path."""
    name = type(model).__name__
    if MODELS.get(name) is not type(model):
        raise BundleError(f"model: {name} is not in opl.models' allow-list ({', '.join(MODELS)})")
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"in_normalizer.{k}": v for k, v in in_normalizer.state_dict().items()})
    tensors.update({f"out_normalizer.{k}": v for k, v in out_normalizer.state_dict().items()})
    if model.base_mesh is not None:  # a mesh operator carries its mesh
        arrays = mesh_arrays(model.base_mesh)
        tensors.update({f"{MESH}{k}": torch.from_numpy(v) for k, v in arrays.items()})
    weights = save_safetensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    metadata = {
        "format_version": BUNDLE_FORMAT,
        "opl_version": opl.__version__,
        "class": name,
        "init_args": model.init_args,
        **({"mesh_sha256": model.mesh_sha256} if model.mesh_sha256 is not None else {}),
        "grid": grid,
        "provenance": provenance,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA, json.dumps(metadata, indent=2))
        archive.writestr(WEIGHTS, weights)
    os.replace(tmp, path)
    return path


def load(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    max_weight_bytes: int = MAX_WEIGHT_BYTES,
) -> LoadedOperator:
    """The operator of the bundle at ``path`` (see the module docstring), in eval mode.

    Nothing is read or built beyond bounds: ``model.json`` up to ``MAX_METADATA_BYTES``,
    ``model.safetensors`` up to ``max_weight_bytes`` and only once its SHA-256 (computed while
    streaming) matches; the ``init_args`` within the model's ``ARG_LIMITS`` and, for a grid
    operator, within ``MAX_PARAMETERS`` (counted on the meta device, allocating nothing) before
    the model is built. Every malformed input is one ``BundleError``.
    """
    path = os.fspath(path)
    metadata, weights = _read(path, max_weight_bytes)
    name, model_class = metadata["class"], MODELS[metadata["class"]]
    try:
        tensors = load_safetensors(weights)
    except Exception as err:  # safetensors raises its own error types for a bad header
        detail = " ".join(str(err).split())[:200]
        raise BundleError(f"{path}: unreadable weights ({detail})") from None
    # SPON bundles of opl < 0.2 kept a copy of the output statistics inside the model
    tensors = {k: v for k, v in tensors.items() if not k.startswith("model.output_normalizer.")}
    meshes = _carried_mesh(path, metadata, tensors)
    try:
        with provided_meshes(meshes):
            model = model_class(**metadata["init_args"])
    except (TypeError, ValueError) as err:
        raise BundleError(f"{path}: cannot build {name} from its init_args ({err})") from None
    recorded = metadata.get("mesh_sha256")
    if recorded is not None and recorded != model.mesh_sha256:
        raise BundleError(
            f"{path}: {name} was trained on another mesh than the one "
            + ("it carries" if meshes else "its init_args name now")
            + f" (mesh SHA-256 {recorded[:12]}... recorded)"
        )
    in_norm = ChannelNormalizer(model.in_channels)
    out_norm = ChannelNormalizer(model.out_channels)
    try:
        for prefix, module in (
            ("model.", model),
            ("in_normalizer.", in_norm),
            ("out_normalizer.", out_norm),
        ):
            part = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            module.load_state_dict(part, strict=True)
    except RuntimeError as err:
        raise BundleError(
            f"{path}: weights do not fit {name} ({' '.join(str(err).split())[:300]})"
        ) from None
    return LoadedOperator(model, in_norm, out_norm, metadata).to(device).eval()


def _carried_mesh(path: str, metadata: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict:
    """``{(mesh, level): the mesh the bundle carries}``, or ``{}`` (a grid operator, or a bundle
    from before bundles carried meshes: the mesh is then read from ``init_args``' name)."""
    arrays = {k[len(MESH) :]: v.numpy() for k, v in tensors.items() if k.startswith(MESH)}
    if not arrays:
        return {}
    args = metadata.get("init_args", {})
    mesh = mesh_from_arrays(arrays, f"{path}: the mesh it carries")
    return {(args.get("mesh"), args.get("level", 0)): mesh}


class ExportUnsupported(OplInputError):
    """A model that cannot be written in the requested exchange format."""


def export_onnx(
    operator: LoadedOperator, path: str | os.PathLike, shape: list[int] | None = None
) -> str:
    """Write ``operator`` (normalisation included) as an ONNX model with a dynamic batch size.

    ``shape`` is the spatial grid (default: the one it was trained on); the ONNX graph has input
    ``x`` ``(batch, C_in, *shape)`` and output ``y`` ``(batch, C_out, *shape)``.
    """
    for module in ("onnx", "onnxscript"):
        require_extra(module, "export", "ONNX export")
    example = _example(operator, shape)
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        program = torch.onnx.export(
            operator.cpu(),
            (example,),
            input_names=["x"],
            output_names=["y"],
            dynamic_shapes={"x": {0: batch}},
            dynamo=True,
        )
    except Exception as err:  # the exporter raises many types; say which model and why
        raise ExportUnsupported(
            f"{operator.metadata['class']} cannot be exported to ONNX: "
            f"{' '.join(str(err).split())[:400]}"
        ) from None
    path = os.fspath(path)
    program.save(path)
    return path


def export_program(
    operator: LoadedOperator, path: str | os.PathLike, shape: list[int] | None = None
) -> str:
    """Write ``operator`` as a ``torch.export`` program (``.pt2``, dynamic batch size), loadable
    with ``torch.export.load`` and compilable ahead of time (AOTInductor) for C++ callers."""
    example = _example(operator, shape)
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        program = torch.export.export(operator.cpu(), (example,), dynamic_shapes={"x": {0: batch}})
    except Exception as err:
        raise ExportUnsupported(
            f"{operator.metadata['class']} cannot be captured by torch.export: "
            f"{' '.join(str(err).split())[:400]}"
        ) from None
    path = os.fspath(path)
    torch.export.save(program, path)
    return path


def export_aoti(
    operator: LoadedOperator, path: str | os.PathLike, shape: list[int] | None = None
) -> str:
    """Compile ``operator`` ahead of time (AOTInductor) into a package (``.pt2``) that C++ code
    runs with ``torch::inductor::AOTIModelPackageLoader`` and no Python (examples/cpp); dynamic
    batch size, the grid of ``shape`` (default: the training grid). Needs a C++ compiler."""
    path = os.fspath(path)
    program = torch.export.load(export_program(operator, path + ".program", shape))
    os.remove(path + ".program")
    try:
        return torch._inductor.aoti_compile_and_package(program, package_path=path)
    except Exception as err:  # inductor raises many types (no compiler, a failed build)
        raise ExportUnsupported(
            f"{operator.metadata['class']} cannot be compiled by AOTInductor: "
            f"{' '.join(str(err).split())[:400]}"
        ) from None


def _example(operator: LoadedOperator, shape: list[int] | None) -> torch.Tensor:
    """An input of the export's shape: ``shape``, else the training grid, else (a mesh
    operator) its input dofs."""
    model = operator.model
    recorded = operator.metadata.get("grid", {}).get("shape")
    shape = list(shape or recorded or model.native_shape() or [])
    if len(shape) != operator.n_dim:
        raise ExportUnsupported(
            f"--shape: expected {operator.n_dim} grid sizes for {type(model).__name__}, got "
            + (f"{shape}" if shape else "none and the bundle records no training grid")
        )
    return torch.zeros(2, model.in_channels, *shape)


def bundle_from_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike) -> str:
    """Write the bundle of a Lightning checkpoint of ``opl.train.OperatorModule``.

    The checkpoint is the user's own training output and is read with ``torch.load`` (a pickle);
    the bundle written from it holds no pickle.
    """
    checkpoint = os.fspath(checkpoint)
    if not os.path.exists(checkpoint):
        raise BundleError(f"{checkpoint}: no such checkpoint")
    if zipfile.is_zipfile(checkpoint) and METADATA in zipfile.ZipFile(checkpoint).namelist():
        raise BundleError(
            f"{checkpoint}: a bundle already; a bundle is written from a checkpoint (.ckpt) of "
            "opl fit (to convert a bundle, use --format onnx or torch-export)"
        )
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for files that are not checkpoints
        raise BundleError(f"{checkpoint}: not a readable checkpoint ({err})") from None
    config = state.get("opl_model_config")
    if config is None or config.get("class") not in MODELS:
        raise BundleError(
            f"{checkpoint}: not a checkpoint of opl.train.OperatorModule with an opl.models "
            "model (no opl_model_config in it)"
        )
    model = MODELS[config["class"]](**config["init_args"])
    weights = state["state_dict"]
    model.load_state_dict({k[6:]: v for k, v in weights.items() if k.startswith("model.")})
    in_norm = ChannelNormalizer(model.in_channels)
    out_norm = ChannelNormalizer(model.out_channels)
    for prefix, module in (("in_normalizer.", in_norm), ("out_normalizer.", out_norm)):
        module.load_state_dict(
            {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
        )
    data = state.get("datamodule_hyper_parameters", {})
    return write_bundle(output, model, in_norm, out_norm, *_describe(data, checkpoint))


def _describe(data: dict[str, Any], checkpoint: str) -> tuple[dict, dict]:
    """The grid and provenance of a model trained on the data module ``data`` (hparams)."""
    provenance: dict[str, Any] = {"checkpoint": os.path.basename(checkpoint)}
    grid: dict[str, Any] = {}
    path = data.get("path")
    if path:
        provenance.update(
            {
                "dataset": os.path.basename(path),
                "train": list(data.get("train", [])),
                "inputs": data.get("inputs"),
                "outputs": data.get("outputs"),
            }
        )
        subsample = int(data.get("subsample", 1))
        grid["subsample"] = subsample
        if os.path.exists(path):
            from opl.data.dataset_file import DatasetFile
            from opl.format import SPATIAL_DIMS

            with DatasetFile(path) as ds:
                for key in ("pde", "equation", "domain", "boundary_conditions", "generator"):
                    if key in ds.attrs:
                        provenance[key] = ds.attrs[key]
                provenance["generator_config"] = ds.attrs.get("generator_config")
                dims = [d for d in ds.dims() if d in SPATIAL_DIMS]
                grid["coordinates"] = {d: ds.coordinate(d)[::subsample].tolist() for d in dims}
                grid["shape"] = [len(v) for v in grid["coordinates"].values()]
    return grid, provenance


def _read(path: str, max_weight_bytes: int) -> tuple[dict[str, Any], bytes]:
    """The checked JSON (format, class, init_args) and the weights of a bundle (zip CRCs, sizes
    and the weights' SHA-256), each member size-checked before it is read."""
    if not os.path.exists(path):
        raise BundleError(f"{path}: no such bundle")
    if not os.path.isfile(path):
        raise BundleError(f"{path}: not a file (a bundle is one .opl file written by opl export)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if {METADATA, WEIGHTS} - names:
                raise BundleError(f"{path}: not an opl bundle (expected {METADATA} and {WEIGHTS})")
            _check_size(path, archive, METADATA, MAX_METADATA_BYTES)
            _check_size(path, archive, WEIGHTS, max_weight_bytes)
            metadata = json.loads(archive.read(METADATA))
            _check_metadata(path, metadata)
            digest = hashlib.sha256()
            with archive.open(WEIGHTS) as member:  # hashed while streaming: nothing is kept
                for chunk in iter(lambda: member.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != metadata.get("weights_sha256"):
                raise BundleError(
                    f"{path}: the weights do not match their recorded SHA-256 (corrupted or "
                    "edited; the hash detects damage, it does not authenticate the author)"
                )
            weights = archive.read(WEIGHTS)
    except (zipfile.BadZipFile, EOFError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{path}: corrupt or truncated bundle ({err})") from None
    except (zipfile.LargeZipFile, OSError) as err:
        raise BundleError(f"{path}: unreadable bundle ({err})") from None
    return metadata, weights


def _check_size(path: str, archive: zipfile.ZipFile, member: str, limit: int) -> None:
    size = archive.getinfo(member).file_size
    if size > limit:
        raise BundleError(
            f"{path}: {member} is {size:,} bytes, above the limit of {limit:,}"
            + (" (load(..., max_weight_bytes=...) raises it)" if member == WEIGHTS else "")
        )


def _check_metadata(path: str, metadata: Any) -> None:
    """BundleError unless ``metadata`` names a readable format, an allow-listed class and
    ``init_args`` within the class's bounds (and, for a grid operator, ``MAX_PARAMETERS``)."""
    if not isinstance(metadata, dict):
        raise BundleError(f"{path}: {METADATA} is not a JSON object")
    version = str(metadata.get("format_version", "?"))
    if version.split(".")[0] != BUNDLE_FORMAT.split(".")[0]:
        raise BundleError(
            f"{path}: bundle format {version} is not readable by this opl (it reads "
            f"{BUNDLE_FORMAT.split('.')[0]}.x); upgrade opl"
        )
    name = metadata.get("class")
    if not isinstance(name, str) or name not in MODELS:
        raise BundleError(
            f"{path}: model class {name!r} is not in opl.models' allow-list "
            f"({', '.join(MODELS)}); refusing to build it"
        )
    args = metadata.get("init_args")
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise BundleError(f"{path}: init_args is not a JSON object of keyword arguments")
    model_class = MODELS[name]
    try:
        model_class.check_args(args)
        if not model_class.on_mesh:  # a mesh operator needs its mesh, read with the weights
            with torch.device("meta"):
                count = sum(p.numel() for p in model_class(**args).parameters())
            if count > MAX_PARAMETERS:
                raise ValueError(
                    f"{name} would have {count:,} parameters, above the limit of {MAX_PARAMETERS:,}"
                )
    except (TypeError, ValueError) as err:
        raise BundleError(f"{path}: cannot build {name} from its init_args ({err})") from None
