"""Make the meshes of meshes/ with gmsh's Python API (only this script needs gmsh).

Every geometry is meshed at levels 0, 1, 2 with the characteristic length halved at each level,
and saved as ``<name>_<level>.msh`` (gmsh format 2.2, ASCII). Boundary curves and subdomains are
gmsh *physical groups* with names, which become ``mesh.boundaries`` / ``mesh.subdomains`` when
``data_gen.fem.mesh.load_mesh`` reads the file (no gmsh needed there). Lengths are nondimensional.

    python meshes/make_meshes.py            # all meshes
    python meshes/make_meshes.py lshape     # one geometry
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import gmsh

HERE = Path(__file__).resolve().parent
LEVELS = (0, 1, 2)
TOL = 1e-5
"""Bounding boxes from gmsh are padded slightly: coordinates closer than this are equal."""


def lshape(h: float) -> None:
    """(-1, 1)² minus [0, 1] x [-1, 0]: a re-entrant corner at the origin."""
    occ = gmsh.model.occ
    corners = [(-1, -1), (0, -1), (0, 0), (1, 0), (1, 1), (-1, 1)]
    points = [occ.addPoint(x, y, 0, h) for x, y in corners]
    lines = [occ.addLine(points[i], points[(i + 1) % 6]) for i in range(6)]
    surface = occ.addPlaneSurface([occ.addCurveLoop(lines)])
    occ.synchronize()
    _physical(
        1,
        {
            "bottom": [lines[0]],
            "reentrant": [lines[1], lines[2]],
            "right": [lines[3]],
            "top": [lines[4]],
            "left": [lines[5]],
        },
    )
    _physical(2, {"domain": [surface]})


def plate_hole(h: float) -> None:
    """[-1, 1] x [-0.5, 0.5] with a centred hole of radius 0.05 (hole diameter / width = 0.1):
    the Kirsch stress-concentration test. Elements are graded towards the hole."""
    _plate_with_holes(h, [(0.0, 0.0, 0.05)], (-1.0, -0.5, 2.0, 1.0), hole_h=h / 8)


def plate_holes(h: float) -> None:
    """[0, 2] x [0, 1] with three holes of different radii (the elasticity dataset)."""
    holes = [(0.45, 0.5, 0.15), (1.05, 0.3, 0.1), (1.5, 0.65, 0.12)]
    _plate_with_holes(h, holes, (0.0, 0.0, 2.0, 1.0), hole_h=h / 3)


def channel_cylinder(h: float) -> None:
    """The DFG flow-around-a-cylinder channel: [0, 2.2] x [0, 0.41], cylinder of radius 0.05 at
    (0.2, 0.2). Elements are graded towards the cylinder."""
    occ = gmsh.model.occ
    box = occ.addRectangle(0, 0, 0, 2.2, 0.41)
    disk = occ.addDisk(0.2, 0.2, 0, 0.05, 0.05)
    (surface,), _ = occ.cut([(2, box)], [(2, disk)])
    occ.synchronize()
    curves = _boundary_curves(surface[1])
    tags = {"inlet": [], "outlet": [], "walls": [], "cylinder": []}
    for curve in curves:
        x0, y0, _, x1, y1, _ = gmsh.model.getBoundingBox(1, curve)
        if x1 - x0 < TOL and x0 < TOL:
            tags["inlet"].append(curve)
        elif x1 - x0 < TOL and x0 > 2.2 - TOL:
            tags["outlet"].append(curve)
        elif y1 - y0 < TOL:
            tags["walls"].append(curve)
        else:
            tags["cylinder"].append(curve)
    _physical(1, tags)
    _physical(2, {"fluid": [surface[1]]})
    _grade_towards(tags["cylinder"], fine=h / 4, coarse=h, distance=0.3)


def disk_inclusions(h: float) -> None:
    """The unit disk with three circular inclusions meshed conformingly (a curved outer boundary
    and curved material interfaces): subdomains "matrix" and "inclusions"."""
    occ = gmsh.model.occ
    outer = occ.addDisk(0, 0, 0, 1, 1)
    small = [
        occ.addDisk(x, y, 0, r, r)
        for x, y, r in ((-0.35, 0.3, 0.22), (0.4, 0.25, 0.17), (0.05, -0.45, 0.25))
    ]
    out, _ = occ.fragment([(2, outer)], [(2, s) for s in small])
    occ.synchronize()
    inclusions = [tag for dim, tag in out if dim == 2 and _area(tag) < 0.5]
    matrix = [tag for dim, tag in out if dim == 2 and tag not in inclusions]
    boundary = gmsh.model.getBoundary([(2, t) for t in matrix + inclusions], combined=True)
    _physical(1, {"circle": [abs(tag) for _, tag in boundary]})
    _physical(2, {"matrix": matrix, "inclusions": inclusions})
    gmsh.option.setNumber("Mesh.MeshSizeMax", h)


GEOMETRIES: dict[str, tuple[Callable[[float], None], float]] = {
    "lshape": (lshape, 0.2),
    "plate_hole": (plate_hole, 0.2),
    "plate_holes": (plate_holes, 0.15),
    "channel_cylinder": (channel_cylinder, 0.08),
    "disk_inclusions": (disk_inclusions, 0.2),
}
"""Name -> (builder, characteristic length at level 0)."""


def _plate_with_holes(h: float, holes, rect, hole_h: float) -> None:
    occ = gmsh.model.occ
    x0, y0, width, height = rect
    box = occ.addRectangle(x0, y0, 0, width, height)
    disks = [(2, occ.addDisk(x, y, 0, r, r)) for x, y, r in holes]
    (surface,), _ = occ.cut([(2, box)], disks)
    occ.synchronize()
    tags = {"left": [], "right": [], "bottom": [], "top": [], "holes": []}
    for curve in _boundary_curves(surface[1]):
        bx0, by0, _, bx1, by1, _ = gmsh.model.getBoundingBox(1, curve)
        if bx1 - bx0 < TOL:
            tags["left" if abs(bx0 - x0) < TOL else "right"].append(curve)
        elif by1 - by0 < TOL:
            tags["bottom" if abs(by0 - y0) < TOL else "top"].append(curve)
        else:
            tags["holes"].append(curve)
    if len(holes) == 1:
        tags["hole"] = tags.pop("holes")
    _physical(1, tags)
    _physical(2, {"plate": [surface[1]]})
    hole_tag = "hole" if len(holes) == 1 else "holes"
    _grade_towards(tags[hole_tag], fine=hole_h, coarse=h, distance=0.4)


def _boundary_curves(surface: int) -> list[int]:
    return [abs(tag) for _, tag in gmsh.model.getBoundary([(2, surface)], oriented=False)]


def _area(surface: int) -> float:
    return gmsh.model.occ.getMass(2, surface)


def _physical(dim: int, groups: dict[str, list[int]]) -> None:
    for name, entities in groups.items():
        gmsh.model.addPhysicalGroup(dim, entities, name=name)


def _grade_towards(curves: list[int], fine: float, coarse: float, distance: float) -> None:
    """Element size ``fine`` on ``curves``, growing linearly to ``coarse`` at ``distance``."""
    field = gmsh.model.mesh.field
    dist = field.add("Distance")
    field.setNumbers(dist, "CurvesList", curves)
    field.setNumber(dist, "Sampling", 200)
    ramp = field.add("Threshold")
    field.setNumber(ramp, "InField", dist)
    field.setNumber(ramp, "SizeMin", fine)
    field.setNumber(ramp, "SizeMax", coarse)
    field.setNumber(ramp, "DistMin", 0.0)
    field.setNumber(ramp, "DistMax", distance)
    field.setAsBackgroundMesh(ramp)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)


def make(name: str, level: int) -> Path:
    """Mesh geometry ``name`` at ``level`` and write ``meshes/<name>_<level>.msh``."""
    build, h0 = GEOMETRIES[name]
    h = h0 / 2**level
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add(f"{name}_{level}")
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        build(h)
        gmsh.option.setNumber("Mesh.Algorithm", 6)  # Frontal-Delaunay: well-shaped triangles
        gmsh.option.setNumber("Mesh.MshFileVersion", 2.2)
        gmsh.model.mesh.generate(2)
        gmsh.model.mesh.optimize("Laplace2D")
        path = HERE / f"{name}_{level}.msh"
        gmsh.write(str(path))
        return path
    finally:
        gmsh.finalize()


def main(names: list[str]) -> None:
    for name in names or list(GEOMETRIES):
        for level in LEVELS:
            path = make(name, level)
            print(f"wrote {path.relative_to(HERE.parent)} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main(sys.argv[1:])
