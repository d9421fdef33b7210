"""The seed lecture's pictures and tables, built from a ModelSpec or a Fit.

Covariance matrices of the random effects and their heatmaps (``covariance``,
``covariance_plot``), the maximal model of a design (``maximal``) and the lecture's small
example data sets (``lecture_data``).
"""
