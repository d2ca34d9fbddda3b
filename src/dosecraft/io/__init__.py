"""Input and output: prescriptions in (CSV, JSON, FHIR), meshes in and out (STL, 3MF)."""
