"""Helpers that two or more of the lesson's scripts share; a student need not read them to follow the lesson.

    cli.py            LessonError and fail(): one sentence and a non-zero exit for expected problems;
                      the --device flag and its rule (auto = cuda, then mps, then cpu); number checks
    files.py          ROOT (the module's folder) and atomic writes with the user's permissions
    images.py         opening images safely, RGB conversion, tensor <-> image
    figures.py        the labelled PNG grids every exercise saves, and other figures
    facade_labels.py  draws CMP facade label maps from a few numbers (the shipped samples, Exercise 2)
    anime_demo.py     draws the synthetic sketch/colour pairs of the offline demo set
    checkpoints.py    reading any .pth safely; Exercise 3's two file formats (written and validated)
"""
