"""Offline training data built from what ships with installed packages (no downloads).

``faces``: identities for the Siamese face embedder (real photos from scikit-image and
matplotlib, each heavily augmented and treated as its own identity, plus procedurally drawn
synthetic identities), rendered into 112 x 112 crops aligned exactly as the runtime aligns them.
"""
