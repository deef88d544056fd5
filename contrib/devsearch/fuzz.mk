# contrib/devsearch/fuzz.mk — libFuzzer build and runs of fuzz_dispatch.c.
#
#   make -C contrib/devsearch -f fuzz.mk             # build ./fuzz_dispatch
#   make -C contrib/devsearch -f fuzz.mk fuzz FUZZ_SECONDS=300
#   make -C contrib/devsearch -f fuzz.mk minimize    # rewrite corpus/ minimized
#
# Objects are built into fuzz-build/ with clang's sanitizers so they never mix
# with the normal build.  The file that defines main() is left out.

CLANG ?= clang
PKGS = libmicrohttpd jansson zlib
FUZZ_CFLAGS = -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	$(shell pkg-config --cflags $(PKGS))
FUZZ_LDFLAGS = -fsanitize=fuzzer,address,undefined -pthread
FUZZ_LIBS = $(shell pkg-config --libs $(PKGS)) -lm

MAIN_SRC := $(shell grep -l '^main(' *.c 2>/dev/null)
LIB_SRCS := $(filter-out fuzz_%.c $(MAIN_SRC),$(wildcard *.c))
LIB_OBJS := $(patsubst %.c,fuzz-build/%.o,$(LIB_SRCS))
HDRS := $(wildcard *.h)

FUZZ_SECONDS ?= 120
CORPUS ?= corpus

all: fuzz_dispatch

fuzz-build/%.o: %.c $(HDRS)
	@mkdir -p fuzz-build
	$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<

fuzz_dispatch: fuzz-build/fuzz_dispatch.o $(LIB_OBJS)
	$(CLANG) $(FUZZ_LDFLAGS) -o $@ $^ $(FUZZ_LIBS)

# run the fuzzer over a copy of the corpus (libFuzzer reads folders
# recursively, so corpus/crashes/ must not be fed back); crashes are saved to
# corpus/crashes/
fuzz: fuzz_dispatch
	@mkdir -p fuzz-work $(CORPUS)/crashes
	find $(CORPUS) -maxdepth 1 -type f -exec cp {} fuzz-work/ \;
	./fuzz_dispatch -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
		-rss_limit_mb=2048 -dict=fuzz_dispatch.dict \
		-artifact_prefix=$(CORPUS)/crashes/ fuzz-work

# replace the top level of corpus/ by a minimal set covering fuzz-work/
minimize: fuzz_dispatch
	@rm -rf fuzz-min && mkdir -p fuzz-min
	./fuzz_dispatch -merge=1 -max_len=4096 fuzz-min fuzz-work
	find $(CORPUS) -maxdepth 1 -type f -delete
	mv fuzz-min/* $(CORPUS)/
	rmdir fuzz-min

clean:
	rm -rf fuzz-build fuzz-work fuzz_dispatch

.PHONY: all fuzz minimize clean
