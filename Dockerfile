FROM python:3.12-slim-bookworm

# WeasyPrint's libraries (Pango) and a Korean font for documents.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-nanum \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sendon_results ./sendon_results
RUN pip install --no-cache-dir .
COPY . .
# Static files are collected into the image and served by WhiteNoise.
RUN DEBUG=true python manage.py collectstatic --noinput
EXPOSE 8000
# One log line per request comes from the console (RequestLogMiddleware: no query
# strings, which can hold phone numbers), so gunicorn keeps no access log of its own
# (gunicorn.conf.py: should one be turned on, it writes paths only).
CMD ["gunicorn", "sendon_results.wsgi", "--workers", "4", "--bind", "0.0.0.0:8000"]
