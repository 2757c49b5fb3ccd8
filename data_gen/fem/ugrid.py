"""A finite-element mesh and its spaces as dataset variables, following UGRID-1.0.

The 2-D triangle mesh is the topology variable ``mesh`` (``cf_role = mesh_topology``) with
``mesh_node_x`` / ``mesh_node_y`` (dimension ``node``), ``mesh_face_nodes`` (``face`` x
``max_face_nodes``, counter-clockwise, 0-based), ``mesh_boundary_nodes`` (``boundary_edge`` x
``two``) and, as flag variables whose ``flag_meanings`` are the gmsh physical names,
``mesh_boundary_tag`` (per boundary edge) and ``mesh_face_subdomain`` (per face).

Fields live on the dofs of a Lagrange space: P1 dofs are the mesh nodes (dimension ``node``); P2
dofs (dimension ``p2_dof``) are the nodes followed by one dof per mesh edge (scikit-fem's
ordering), with coordinates ``p2_dof_x`` / ``p2_dof_y`` and the six dofs of each face in
``p2_face_dofs`` (3 vertices, then the edges 01, 12, 02). A field's ``element`` attribute names its
space; ``mesh`` and ``location`` follow UGRID (``location = node`` for P1 fields).
"""

from __future__ import annotations

import numpy as np
import skfem

from data_gen.generator import Coordinate, Variable
from opl.format import DOF_DIMS

ELEMENTS = {"P1": skfem.ElementTriP1, "P2": skfem.ElementTriP2}
"""The Lagrange spaces fields may live on, by name (their dofs' dimensions: ``DOF_DIMS``)."""


def mesh_variables(mesh: skfem.MeshTri, elements: tuple[str, ...]) -> tuple[Variable, ...]:
    """The UGRID variables of ``mesh`` plus the dof description of each space in ``elements``."""
    boundary = mesh.boundary_facets()
    boundary_tags, boundary_names = _tags(mesh.boundaries or {}, boundary, "untagged")
    face_tags, face_names = _tags(mesh.subdomains or {}, np.arange(mesh.t.shape[1]), "domain")
    topology = {
        "cf_role": "mesh_topology",
        "long_name": "2-D triangle mesh",
        "topology_dimension": 2,
        "node_coordinates": "mesh_node_x mesh_node_y",
        "face_node_connectivity": "mesh_face_nodes",
        "boundary_node_connectivity": "mesh_boundary_nodes",
        "face_dimension": "face",
    }
    out = [
        Variable("mesh", (), np.int32(0), topology),
        Variable("mesh_node_x", ("node",), mesh.p[0], _coord("x", "mesh node x-coordinate")),
        Variable("mesh_node_y", ("node",), mesh.p[1], _coord("y", "mesh node y-coordinate")),
        Variable(
            "mesh_face_nodes",
            ("face", "max_face_nodes"),
            mesh.t.T.astype(np.int32),
            {
                "cf_role": "face_node_connectivity",
                "start_index": 0,
                "long_name": "nodes of each triangle, counter-clockwise",
            },
        ),
        Variable(
            "mesh_boundary_nodes",
            ("boundary_edge", "two"),
            mesh.facets[:, boundary].T.astype(np.int32),
            {
                "cf_role": "boundary_node_connectivity",
                "start_index": 0,
                "long_name": "the two nodes of each boundary edge",
            },
        ),
        Variable(
            "mesh_boundary_tag",
            ("boundary_edge",),
            boundary_tags,
            _flags("boundary part of each boundary edge", boundary_names),
        ),
        Variable(
            "mesh_face_subdomain",
            ("face",),
            face_tags,
            _flags("subdomain of each triangle", face_names),
        ),
    ]
    if "P2" in elements:
        basis = skfem.Basis(mesh, skfem.ElementTriP2())
        out += [
            Variable("p2_dof_x", ("p2_dof",), basis.doflocs[0], _coord("x", "P2 dof x-coordinate")),
            Variable("p2_dof_y", ("p2_dof",), basis.doflocs[1], _coord("y", "P2 dof y-coordinate")),
            Variable(
                "p2_face_dofs",
                ("face", "p2_dofs_per_face"),
                basis.element_dofs.T.astype(np.int32),
                {
                    "start_index": 0,
                    "long_name": "P2 dofs of each triangle: vertices, then edges 01, 12, 02",
                },
            ),
        ]
    return tuple(out)


def field_attrs(element: str) -> dict[str, str]:
    """The attributes of a field on the space ``element`` of the mesh."""
    location = DOF_DIMS[element]
    attrs = {"mesh": "mesh", "location": location, "element": element}
    if element != "P1":
        attrs["coordinates"] = f"{element.lower()}_dof_x {element.lower()}_dof_y"
    return attrs


def component_coordinate() -> Coordinate:
    """The ``component`` dimension of 2-D vector fields."""
    return Coordinate("component", np.array(["x", "y"]), "vector component")


def _tags(groups: dict, members: np.ndarray, default: str) -> tuple[np.ndarray, list[str]]:
    """Flag value (1-based index into the sorted group names, 0 = ``default``) of each member."""
    names = sorted(groups)
    position = {m: i for i, m in enumerate(members)}
    tags = np.zeros(len(members), dtype=np.int32)
    for value, name in enumerate(names, start=1):
        tags[[position[m] for m in groups[name] if m in position]] = value
    return tags, [default, *names]


def _flags(long_name: str, names: list[str]) -> dict:
    return {
        "long_name": long_name,
        "flag_values": np.arange(len(names), dtype=np.int32),
        "flag_meanings": " ".join(names),
    }


def _coord(axis: str, long_name: str) -> dict[str, str]:
    return {"long_name": long_name, "units": "1", "axis": axis.upper()}
