# hostcri-monitor.exe, one per running container, installed beside hostcri.exe. It links only
# Windows system libraries: the common/ helpers it needs are compiled into it directly, as on
# Linux, instead of linking hostcri_common with libuv and jansson.
set(hostcri_windows_monitor_sources
    ${CMAKE_CURRENT_LIST_DIR}/monitor_windows.c
    ${CMAKE_CURRENT_LIST_DIR}/monitor_windows_attach.c
    ${CMAKE_CURRENT_LIST_DIR}/monitor_windows_loop.c
    ${CMAKE_CURRENT_LIST_DIR}/process_windows.c
    ${CMAKE_CURRENT_LIST_DIR}/winenv.c
    ${CMAKE_CURRENT_LIST_DIR}/winenv_windows.c
    ${CMAKE_CURRENT_LIST_DIR}/winmon_files.c
    ${CMAKE_CURRENT_LIST_DIR}/winmon_spec.c
    ${CMAKE_CURRENT_LIST_DIR}/winuser.c
    ${CMAKE_CURRENT_LIST_DIR}/winuser_windows.c
    ${CMAKE_CURRENT_LIST_DIR}/../crilog.c
    ${CMAKE_CURRENT_LIST_DIR}/../monitor_format.c
    ${CMAKE_CURRENT_LIST_DIR}/../spec_hostprocess.c
    ${CMAKE_CURRENT_LIST_DIR}/../../common/error.c
    ${CMAKE_CURRENT_LIST_DIR}/../../common/error_windows.c
    ${CMAKE_CURRENT_LIST_DIR}/../../common/log.c
    ${CMAKE_CURRENT_LIST_DIR}/../../common/posix_windows.c
    ${CMAKE_CURRENT_LIST_DIR}/../../common/strbuf.c
    ${CMAKE_CURRENT_LIST_DIR}/../../common/text_windows.c
    ${CMAKE_CURRENT_LIST_DIR}/../../common/util.c)
if(NOT TARGET hostcri-monitor)
    add_executable(hostcri-monitor ${hostcri_windows_monitor_sources})
    # runtime/job.h includes <uv.h> for its types; the monitor does not link libuv.
    target_include_directories(hostcri-monitor PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../..
        $<TARGET_PROPERTY:PkgConfig::LIBUV,INTERFACE_INCLUDE_DIRECTORIES>)
    target_compile_options(hostcri-monitor PRIVATE
        "SHELL:-include ${CMAKE_CURRENT_LIST_DIR}/../../common/posix_windows.h")
    target_link_libraries(hostcri-monitor PRIVATE advapi32 bcrypt pthread)
    # A console program, so that the init process can share its console for CTRL_BREAK_EVENT.
    target_link_options(hostcri-monitor PRIVATE -static)
    set_target_properties(hostcri-monitor PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
    install(TARGETS hostcri-monitor RUNTIME DESTINATION bin)
endif()
