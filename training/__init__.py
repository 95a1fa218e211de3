"""Exercise 3's training machinery, which exercise3_train.py calls; one concept per module.

recipe.py   the paper's recipe: Adam's constants, lambda = 100, the learning-rate schedule, how a
            step runs on this device (StepSpeed), train_step (the D step, then the G step) and
            validate (L1, PSNR and SSIM on the validation pairs)
data.py     the preprocessed anime pairs -> (real_A, real_B) batches: the held-out split, the
            official jitter (one crop and flip for both images), the seeded epoch order
run.py      one run: its folder (one run at a time, all of an epoch's files together, Ctrl+C and
            SIGTERM), its settings on --resume, and what it prints
figures.py  what it draws: the milestone previews, D's PatchGAN maps, the loss curves
state.py    what lets it stop and go on exactly: the folder lock, random-number states
"""

from helpers.lesson import check_torchvision

# A torchvision built for another torch fails at import with a message that names neither the
# package nor the fix; say both, once, before any module here imports it.
check_torchvision()
