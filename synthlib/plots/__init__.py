"""Figures for the book, one module per chapter concern."""
