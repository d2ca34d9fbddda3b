"""The app's panels: prescription form, dose check, release plot, batch tab."""
