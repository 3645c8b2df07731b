"""Values every layer shares."""

IGNORE = 255  # the label of void pixels in ground truth and of unknown pixels in pseudo labels
