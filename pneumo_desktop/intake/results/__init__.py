"""Results back to where clinicians read: the DICOM objects made for each received radiograph
(a TID 1500 Structured Report, and a Secondary Capture with the heat map burned in), the
on-disk outbound queue that sends them to the clinic's PACS with retries, and the DICOM client
(C-ECHO, C-STORE, TLS) it sends with. Part of `intake`: same imports allowed."""
