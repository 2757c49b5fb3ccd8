"""The triangle meshes of the finite-element generators (installed as ``data_gen._meshes``)."""
