"""DICOMweb (PS3.18) under /dicom-web/: QIDO-RS search, WADO-RS retrieve, STOW-RS store."""
