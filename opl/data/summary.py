"""The human summary of a dataset file printed by ``opl info``."""

from __future__ import annotations

import os

from opl.data.dataset_file import DatasetFile


def summarise(path: str | os.PathLike, with_config: bool = False) -> str:
    """A few lines describing ``path``: PDE, sizes, fields with roles and units, completeness."""
    with DatasetFile(path) as ds:
        a = ds.attrs
        done = int(ds.complete().sum())
        lines = [
            f"{os.path.basename(ds.path)}: opl dataset, format {a['opl_format']}",
            f"  pde          {a.get('pde', '?')}: {a.get('equation', '')}",
            f"  domain       {a.get('domain', '?')}",
            f"  boundary     {a.get('boundary_conditions', '?')}",
            f"  generator    {a.get('generator', '?')}, seed {a.get('seed', '?')}, "
            f"created {a.get('created', '?')}",
            f"  samples      {done} of {ds.n_samples} complete"
            + ("" if done == ds.n_samples else "  (incomplete: rerun `opl generate` to finish)"),
            "  dims         " + ", ".join(f"{k}={v}" for k, v in ds.dims().items()),
            *_mesh_lines(ds),
            "  fields",
        ]
        rows = [
            (f.name, f.role, "(" + ", ".join(f.dims) + ")", f.dtype, f"[{f.units}]", f.long_name)
            for f in ds.fields.values()
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append("    " + "  ".join(cells) + "  " + row[5])
        if with_config:
            lines.append("  config")
            lines += ["    " + line for line in str(a.get("generator_config", "")).splitlines()]
        return "\n".join(lines)


def _mesh_lines(ds: DatasetFile) -> list[str]:
    """The mesh of a finite-element dataset: size, spaces, boundary parts and subdomains."""
    if not ds.has("mesh_face_nodes"):
        return []
    nodes = ds.variable("mesh_node_x").size
    faces = ds.variable("mesh_face_nodes").shape[0]
    spaces = "P1" + (f", P2 ({ds.variable('p2_dof_x').size} dofs)" if ds.has("p2_dof_x") else "")
    lines = [
        f"  mesh         UGRID triangles: {nodes} nodes, {faces} faces "
        f"({ds.attrs.get('mesh_source', '?')}); spaces {spaces}"
    ]
    for label, variable in (
        ("boundary", "mesh_boundary_tag"),
        ("subdomains", "mesh_face_subdomain"),
    ):
        tags = ds.variable(variable)
        names = ds.flag_meanings(variable)
        counts = [
            f"{name} ({int((tags == i).sum())})"
            for i, name in enumerate(names)
            if (tags == i).any()
        ]
        unit = "edges" if label == "boundary" else "faces"
        lines.append(
            f"  {label + ' parts' if label == 'boundary' else label:<12} {', '.join(counts)} {unit}"
        )
    return lines
