"""What preprocess_anime_sketches.py runs, one step per module; no module here imports torch, so
the worker processes start in a fraction of a second.

    pairs.py     one Kaggle pair -> its colour and sketch halves as PNGs (each worker's job)
    layout.py    the folders preprocessing writes and training reads, and what counts as a pair
    jobs.py      run_jobs: work spread over worker processes behind one progress bar
    verify.py    --verify: the output checked as training will read it (complete pairs, sizes, and
                 which folder holds the sketches)
    demo_set.py  --demo: synthetic pairs in the Kaggle format, drawn by helpers/anime_demo.py
"""
