"""The parts of challenges/check.py; students need not read them (they would give the answers away).

student_files.py  load a student's file, and turn what goes wrong in it into one sentence
compare.py        the test bench: narrow networks, a fixed batch, the tolerance of a match
unet.py           challenge 1: what each U-Net block reads, against pix2pix_models.UNetGenerator
losses.py         challenge 2: loss_D and loss_G, against training.recipe.train_step
field.py          challenge 3: the receptive field, for our PatchGAN and the paper's others
"""
