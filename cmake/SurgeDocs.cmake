# The API reference: target `docs` (HTML from the public headers and docs/*.md)
# when Doxygen is found. Included by the top-level CMakeLists.txt; also run as a
# script (cmake -P) by the target itself to copy the charts next to the pages.

if(CMAKE_SCRIPT_MODE_FILE)
  # cmake -DSRC=<docs dir> -DDST=<html dir> -P SurgeDocs.cmake: copies every
  # SVG and CSV under docs/, keeping its folder (cache/scan.svg stays
  # cache/scan.svg), so the pages' relative links and images resolve.
  file(GLOB_RECURSE assets RELATIVE "${SRC}" "${SRC}/*.svg" "${SRC}/*.csv")
  foreach(asset IN LISTS assets)
    get_filename_component(dir "${DST}/${asset}" DIRECTORY)
    file(COPY "${SRC}/${asset}" DESTINATION "${dir}")
  endforeach()
  return()
endif()

find_package(Doxygen 1.9 QUIET)
if(NOT DOXYGEN_FOUND)
  message(STATUS "surge: Doxygen not found: no docs target (install doxygen to build the API reference)")
  return()
endif()

set(SURGE_DOCS_OUTPUT "${PROJECT_BINARY_DIR}/docs")
configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${SURGE_DOCS_OUTPUT}/Doxyfile" @ONLY)
# Any warning (an undocumented public name, a broken reference) fails the
# target; the list is also in ${SURGE_DOCS_OUTPUT}/warnings.txt.
add_custom_target(docs
  COMMAND "${CMAKE_COMMAND}" -E rm -rf "${SURGE_DOCS_OUTPUT}/html"
  COMMAND Doxygen::doxygen "${SURGE_DOCS_OUTPUT}/Doxyfile"
  COMMAND "${CMAKE_COMMAND}" "-DSRC=${PROJECT_SOURCE_DIR}/docs" "-DDST=${SURGE_DOCS_OUTPUT}/html"
          -P "${CMAKE_CURRENT_LIST_FILE}"
  WORKING_DIRECTORY "${SURGE_DOCS_OUTPUT}"
  COMMENT "surge: API reference -> ${SURGE_DOCS_OUTPUT}/html/index.html"
  VERBATIM)
message(STATUS "surge: API reference: target docs -> ${SURGE_DOCS_OUTPUT}/html/index.html")
