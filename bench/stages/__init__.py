"""The stages of a run, one module each (see :mod:`bench.pipeline` and :data:`bench.runner.PIPELINE`).

data -> models -> images -> maps -> scores, gallery -> retraining -> summary -> robustness,
feature_occlusion, noise_accumulation, threshold_sweep (the last four when the run asks for them)
"""
