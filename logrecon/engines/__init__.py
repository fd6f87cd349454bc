"""Execution engines beyond the in-process pandas pipeline.

`engines.dask.run_dask` runs the same stage functions on a Dask cluster (`--engine dask`).
Engines import their framework lazily: `import logrecon` never needs Dask.
"""
