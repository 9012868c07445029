"""Films as pixels: decoding JPEG, PNG, TIFF, BMP and DICOM into grey arrays (`image_io`,
`dicom_io`, `pixels`; `formats` names a file's format, `dicom_header` reads a DICOM's tags without
its pixels), finding image files in folders (`discovery`), the model's preprocessing,
the tag and pixel input checks (`checks`), the regions of a frontal film (`regions`), and
synthetic and site-shifted films for tests and benchmarks.

The lowest layer: it imports only NumPy, OpenCV, Pillow, pydicom and the foundation modules
(`pneumo_desktop.errors`, `paths`, `atomic`); never Keras, Qt or another package of ours.
"""
