"""Sparse generalized linear models: the SparseGLM form, its recognizer and certificate.

    scalars       the losses, penalties and KKT distances in NumPy (kinds named once)
    penalties     MCP and SCAD (IR functions) and ``penalized_program``
    data          the datafit's arrays, cached per operator version
    recognize     the SparseGLM structure found in a (Composite) Program
    certificate   rescaled-dual gap and KKT residual (``GLMCertificate``, ``Evaluation``)
    form          SparseGLM (registered on import)

Datafits: least squares, logistic, Huber, squared hinge, Poisson; penalties: l1 and
weighted l1, ridge, bounds, MCP / SCAD, disjoint group l2.
"""
from .certificate import Evaluation, GLMCertificate
from .data import GLMData, glm_data
from .form import SparseGLM
from .penalties import MCP, SCAD, penalized_program
from .recognize import recognize
from .scalars import DATAFIT_KIND, DATAFIT_NAME, L_PHI, kkt_distances, relative

__all__ = ["SparseGLM", "recognize", "Evaluation", "GLMCertificate", "GLMData", "glm_data", "MCP", "SCAD",
           "penalized_program", "DATAFIT_KIND", "DATAFIT_NAME", "L_PHI", "kkt_distances", "relative"]
