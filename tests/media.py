"""Documents and audio clips for requests, built here: a PDF of n pages, a WAV of n seconds."""

import base64
import struct


def pdf_bytes(pages: int) -> bytes:
    """A well-formed PDF of `pages` pages, each with a line of text (cross-reference table included)."""
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    for i in range(pages):
        text = f"BT /F1 12 Tf 72 720 Td (Page {i + 1} of the quarterly report.) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            "/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text))
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pdf(pages: int) -> str:
    """The same PDF, base64 (as `file_data` after "data:application/pdf;base64,", or a document block's data)."""
    return base64.b64encode(pdf_bytes(pages)).decode()


def pdf_part(pages: int, filename: str = "report.pdf") -> dict:
    """An OpenAI `file` content part carrying a PDF of `pages` pages."""
    return {"type": "file", "file": {"filename": filename, "file_data": f"data:application/pdf;base64,{pdf(pages)}"}}


def wav(seconds: int, rate: int = 16_000) -> str:
    """Base64 WAV of `seconds` seconds of silence, 16-bit mono at `rate` Hz."""
    data = bytes(2 * rate * seconds)
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16) + b"data" + struct.pack("<I", len(data))
    return base64.b64encode(header + data).decode()


def audio_part(seconds: int) -> dict:
    """An OpenAI `input_audio` content part of `seconds` seconds."""
    return {"type": "input_audio", "input_audio": {"data": wav(seconds), "format": "wav"}}
