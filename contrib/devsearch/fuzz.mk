# contrib/devsearch/fuzz.mk — libFuzzer build and runs of fuzz_dispatch.c.
#
#   make -C contrib/devsearch -f fuzz.mk             # build fuzz-build/fuzz_dispatch
#   make -C contrib/devsearch -f fuzz.mk fuzz FUZZ_SECONDS=300
#   make -C contrib/devsearch -f fuzz.mk minimize    # rewrite corpus/ minimized
#
# Everything (objects built with clang's sanitizers, the binary, the working
# corpus fuzz-build/work/) lives in fuzz-build/, apart from the normal build.
# The file that defines main() is left out.

CLANG ?= clang
PKGS = libmicrohttpd jansson zlib
FUZZ_CFLAGS = -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	$(shell pkg-config --cflags $(PKGS))
FUZZ_LDFLAGS = -fsanitize=fuzzer,address,undefined -pthread
FUZZ_LIBS = $(shell pkg-config --libs $(PKGS)) -lm

MAIN_SRC := $(shell grep -l '^main.int' *.c 2>/dev/null)
LIB_SRCS := $(filter-out fuzz_%.c $(MAIN_SRC),$(wildcard *.c))
LIB_OBJS := $(patsubst %.c,fuzz-build/%.o,$(LIB_SRCS))
HDRS := $(wildcard *.h)

FUZZ_SECONDS ?= 120
# e.g. FUZZ_FLAGS="-fork=1 -ignore_crashes=1" to keep going after a crash
FUZZ_FLAGS ?=
CORPUS ?= corpus

B = fuzz-build
all: $(B)/fuzz_dispatch

fuzz-build/%.o: %.c $(HDRS)
	@mkdir -p fuzz-build
	$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<

$(B)/fuzz_dispatch: fuzz-build/fuzz_dispatch.o $(LIB_OBJS)
	$(CLANG) $(FUZZ_LDFLAGS) -o $@ $^ $(FUZZ_LIBS)

# run the fuzzer over a copy of the corpus (libFuzzer reads folders
# recursively, so corpus/crashes/ must not be fed back); crashes are saved to
# corpus/crashes/
fuzz: $(B)/fuzz_dispatch
	@mkdir -p $(B)/work $(CORPUS)/crashes
	find $(CORPUS) -maxdepth 1 -type f -exec cp {} $(B)/work/ \;
	$(B)/fuzz_dispatch -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
		-rss_limit_mb=2048 -dict=fuzz_dispatch.dict $(FUZZ_FLAGS) \
		-artifact_prefix=$(CORPUS)/crashes/ $(B)/work

# replace the top level of corpus/ by a minimal set covering $(B)/work/
minimize: $(B)/fuzz_dispatch
	@rm -rf $(B)/min && mkdir -p $(B)/min
	$(B)/fuzz_dispatch -merge=1 -max_len=4096 $(B)/min $(B)/work
	find $(CORPUS) -maxdepth 1 -type f -delete
	mv $(B)/min/* $(CORPUS)/
	rmdir $(B)/min

clean:
	rm -rf $(B)

.PHONY: all fuzz minimize clean
