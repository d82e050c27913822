# kmspolicy serve in a container (docs/docker.md). Two stages: the first builds the wheel, the
# second installs it into a slim image and runs as an unprivileged user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY kmspolicy ./kmspolicy
COPY grammar ./grammar
COPY docs ./docs
# the server and the PostgreSQL store (pyproject.toml's extras); the toolkit alone needs neither
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[server,postgres]'

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/kmspolicy --create-home kmspolicy
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'kmspolicy[server,postgres]' \
    && rm -rf /wheels
USER kmspolicy
WORKDIR /var/lib/kmspolicy
# keys (sealed), the root key and the decision log live here: mount a volume to keep them
VOLUME ["/var/lib/kmspolicy/data"]
ENV KMSPOLICY_HOST=0.0.0.0 \
    KMSPOLICY_PORT=4599 \
    KMSPOLICY_DATA_DIR=/var/lib/kmspolicy/data
EXPOSE 4599
# On 0.0.0.0 the server refuses the public development credentials: give it an identities file
# (KMSPOLICY_IDENTITIES=/path, mounted read-only), see docs/identities.md.
ENTRYPOINT ["kmspolicy", "serve"]
