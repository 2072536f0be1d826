# Image for hypervisord (gateway and/or worker) used by docker-compose.yml.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /opt/hypersdk
# A fixed uid/gid (10001): docker-compose.yml runs as it and secret files are given to it.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY --from=build /src/dist ./dist
RUN ln -s /opt/hypersdk/bin/hypervisord.js /usr/local/bin/hypervisord \
 && ln -s /opt/hypersdk/bin/hyperctl.js /usr/local/bin/hyperctl \
 && groupadd --system --gid 10001 hypersdk \
 && useradd --system --uid 10001 --gid 10001 --home /var/lib/hypersdk hypersdk \
 && mkdir -p /var/lib/hypersdk/exports && chown -R hypersdk /var/lib/hypersdk
USER hypersdk
ENV XDG_STATE_HOME=/var/lib
# Memory: a small V8 young generation and two malloc arenas keep hypervisord
# ~50 MB smaller (README, Deployment; src/daemon/process-settings.ts).
ENV NODE_OPTIONS=--max-semi-space-size=2 MALLOC_ARENA_MAX=2
EXPOSE 8080
CMD ["hypervisord"]
