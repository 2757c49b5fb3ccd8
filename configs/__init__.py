"""The shipped generator and training configs (installed as the package data of ``opl._configs``)."""
