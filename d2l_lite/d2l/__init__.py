"""The replica of d2l 1.0.3: what D2L §11.4 uses, one module per concept, under d2l's names
(``d2l_lite/__init__.py`` re-exports them). A d2l function or class goes here."""
