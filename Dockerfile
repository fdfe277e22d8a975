# framecast's container image: the binary, ONNX Runtime, the models and the
# sample photos, libjpeg-turbo and ffmpeg, on Debian. Build it with
# `make image`, which builds the binary on this machine (cgo, libjpeg) and
# stages it with the cache directory's run-time files in out/image, the
# build context this file expects (see scripts/image.sh):
#
#   framecast     the binary (linked against BASE's glibc and libjpeg62-turbo:
#                 build it on the same Debian release as BASE)
#   healthcheck   tools/healthcheck, static
#   home/         lib/libonnxruntime.so.1, models/*.onnx, images/face-api/*.jpg
#
# BASE is any Debian image with apt sources: debian:bookworm-slim from a
# registry, or framecast-base:bookworm made locally by
# scripts/make-base-image.sh (mmdebstrap + docker import) where there is no
# registry. Only instructions the classic builder knows are used, so it
# builds with and without BuildKit.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# libjpeg62-turbo: frame decoding and encoding (cgo); libstdc++6: ONNX
# Runtime; ffmpeg: video files, streams and webcams; ca-certificates: TLS to
# Kafka and HTTPS cameras with the system's roots. ffmpeg's dependencies are
# three quarters of the image (Mesa and LLVM among them, through libavdevice
# and libavfilter): --build-arg FFMPEG= leaves it out where every camera is
# synthetic:, an image or MJPEG over HTTP, which framecast reads without it.
ARG FFMPEG=ffmpeg
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjpeg62-turbo libstdc++6 ca-certificates $FFMPEG \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log

# The same uid and gid as deploy/k8s's securityContext. /var/lib/framecast
# is the one directory the user owns: mount a volume there for the broker's
# data (a new named volume takes its owner from it). Written directly, as
# useradd warns about a uid above its system range.
RUN echo 'framecast:x:65532:' >>/etc/group \
 && echo 'framecast:x:65532:65532:framecast:/nonexistent:/usr/sbin/nologin' >>/etc/passwd \
 && echo 'framecast:!:1::::::' >>/etc/shadow \
 && install -d -o framecast -g framecast -m 0750 /var/lib/framecast

# Owned by root and not writable by the user, like the binary.
COPY home/ /opt/framecast/
COPY framecast healthcheck /usr/local/bin/

# Every role finds the models here, serves /metrics, /healthz and /readyz on
# :9090 (the HEALTHCHECK asks it; -e FRAMECAST_METRICS_LISTEN= turns it off)
# and, for the broker, keeps its data under the volume's mount point. Flags
# win over all three.
ENV FRAMECAST_HOME=/opt/framecast \
    FRAMECAST_METRICS_LISTEN=:9090 \
    FRAMECAST_DATA_DIR=/var/lib/framecast/broker

USER 65532:65532
# Nothing is written outside /var/lib/framecast and /tmp: the image runs with
# --read-only --tmpfs /tmp.
WORKDIR /tmp
# 9090 metrics and health, 9092 the broker, 8080 the dashboard (view).
EXPOSE 9090 9092 8080

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["healthcheck"]
ENTRYPOINT ["framecast"]
CMD ["help"]
