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
