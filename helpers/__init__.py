"""What two or more of the lesson's scripts share; a student need not read it to follow the lesson.

cli.py             LessonError and fail(): one sentence and a non-zero exit for expected problems;
                   the --device flag and its rule (auto = cuda, then mps, then cpu); number checks
files.py           ROOT (the module's folder) and atomic writes with the user's permissions
images.py          the one image decoder for files and uploads (one pixel limit), RGB conversion,
                   tensor <-> image, the one PNG writer
figures.py         the labelled PNG grids every exercise saves
checkpoints.py     reading any .pth safely; Exercise 3's two file formats, written and validated
facade_palette.py  the 12 CMP label colours the pretrained model saw, and snapping to them
facade_labels.py   draws CMP facade label maps from a few numbers (the shipped samples, Exercise 2)
skip_cuts.py       which U-Net blocks read a skip connection (Exercise 2's skips experiment)
download.py        resumable HTTP downloads with retries and one-sentence errors
cmp_archive.py     the CMP facade archive's label maps (download_pretrained.py --samples)
anime_demo.py      draws the synthetic sketch/colour pairs of the offline demo set
"""
