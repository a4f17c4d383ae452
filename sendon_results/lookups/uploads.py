"""The uploaded list kept in memory only: Django writes an upload over 2.5 MB to a
temporary file, and a list of customers' numbers must not touch the disk. Past
MAX_BYTES the rest of the file is read and dropped, and the handler says it was too
large, so the page can say so without holding 10 MB more."""

from __future__ import annotations

import io
from typing import Any

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler


class InMemoryUpload(FileUploadHandler):
    def __init__(self, *args: Any, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes
        self.too_large = False
        self.buffer = io.BytesIO()

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        self.size = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.size += len(raw_data)
        if self.size > self.max_bytes:
            self.too_large = True
            self.buffer = io.BytesIO()  # drop what was kept
        elif not self.too_large:
            self.buffer.write(raw_data)
        return None  # no further handler gets the data

    def file_complete(self, file_size: int) -> InMemoryUploadedFile | None:
        if self.size > self.max_bytes:
            return None  # no file in request.FILES; the view asks `too_large`
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
