"""What two or more scripts share (lesson.py, figures.py) and the facade label drawer."""
