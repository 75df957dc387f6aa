"""Faces: detection (:mod:`.detect`), tracking (:mod:`.tracker`), the model cache
(:mod:`.model_store`), embeddings and the face gallery (:mod:`.embed`, :mod:`.gallery`).

Nothing is imported here, so ``import streamer.faces.tracker`` stays free of MediaPipe.
"""
