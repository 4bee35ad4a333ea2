"""Engine-independent training: schedules, early stopping and the loop that drives a learner."""
