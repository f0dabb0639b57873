// WIT resources: not supported yet (every entry point traps).

#include "runtime.h"

RT_EXPORT("wit_dylib_resource_dtor")
void wit_dylib_resource_dtor(size_t ty, size_t handle) {
  (void)ty, (void)handle;
  rt_fatal("error: WIT resources are not supported yet");
}

RT_EXPORT("wit_dylib_push_borrow")
void wit_dylib_push_borrow(void *cx, size_t ty, uint32_t handle) {
  (void)cx, (void)ty, (void)handle;
  rt_fatal("error: WIT resources are not supported yet");
}

RT_EXPORT("wit_dylib_push_own")
void wit_dylib_push_own(void *cx, size_t ty, uint32_t handle) {
  (void)cx, (void)ty, (void)handle;
  rt_fatal("error: WIT resources are not supported yet");
}

RT_EXPORT("wit_dylib_pop_borrow")
uint32_t wit_dylib_pop_borrow(void *cx, size_t ty) {
  (void)cx, (void)ty;
  rt_fatal("error: WIT resources are not supported yet");
}

RT_EXPORT("wit_dylib_pop_own")
uint32_t wit_dylib_pop_own(void *cx, size_t ty) {
  (void)cx, (void)ty;
  rt_fatal("error: WIT resources are not supported yet");
}
